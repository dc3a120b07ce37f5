import NuageCore
import NuageProviders
import Testing

/// The provider contract (see ``Provider``) as checks that every implementation runs.
///
/// A test target makes a fresh, empty provider per check and runs each by name:
/// ```swift
/// @Test(arguments: ProviderConformance.names)
/// func conformance(_ check: String) async throws {
///     try await ProviderConformance.run(check, on: makeEmptyProvider())
/// }
/// ```
public enum ProviderConformance {
    public typealias Check = @Sendable (any Provider) async throws -> Void

    public static let checks: [(name: String, run: Check)] = [
        ("put then get returns the bytes", roundTrip),
        ("empty blob", emptyBlob),
        ("byte ranges", ranges),
        ("range past the end is corrupt", rangePastEnd),
        ("a read at hand answers what get answers, or nothing", atHand),
        ("streamed multi-block body", streamed),
        ("overwrite replaces whole blob", overwrite),
        ("short body stores nothing", shortBody),
        ("long body stores nothing", longBody),
        ("failing body stores nothing and keeps the old blob", failingBody),
        ("head reports size; missing blob is notFound", head),
        ("delete is idempotent", delete),
        ("list by prefix, ordered, paginated", listing),
        ("names that could escape are refused", hostileNames),
        ("concurrent puts of different blobs", concurrentPuts),
        ("removing abandoned writes keeps blobs and running puts", abandonedWrites),
    ]

    public static var names: [String] { checks.map(\.name) }

    public static func run(_ name: String, on provider: any Provider) async throws {
        guard let check = checks.first(where: { $0.name == name }) else {
            Issue.record("no conformance check named \(name)")
            return
        }
        try await check.run(provider)
    }

    static func pattern(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7 &+ ($0 >> 8)) }
    }

    static func roundTrip(_ p: any Provider) async throws {
        let bytes = pattern(10_000)
        try await p.put("abc123", bytes: bytes)
        #expect(try await p.get("abc123", range: nil).bytes == bytes)
    }

    static func emptyBlob(_ p: any Provider) async throws {
        try await p.put("empty", bytes: [])
        #expect(try await p.get("empty", range: nil).count == 0)
        #expect(try await p.head("empty").size == 0)
    }

    static func ranges(_ p: any Provider) async throws {
        let bytes = pattern(5000)
        try await p.put("ranged", bytes: bytes)
        for range in [0..<1, 0..<5000, 4999..<5000, 100..<2000, 2500..<2500] as [Range<Int64>] {
            let got = try await p.get("ranged", range: range).bytes
            #expect(got == Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)]), "range \(range)")
        }
    }

    static func rangePastEnd(_ p: any Provider) async throws {
        try await p.put("short", bytes: pattern(100))
        await expectKind(.corrupt) { _ = try await p.get("short", range: 50..<101) }
    }

    static func atHand(_ p: any Provider) async throws {
        let data = pattern(5000, seed: 7)
        try await p.put("hand", bytes: data)
        for range: Range<Int64> in [0..<5000, 100..<4000, 4999..<5000] {
            if let block = p.cachedGet("hand", range: range) {
                #expect(block.bytes == Array(data[Int(range.lowerBound)..<Int(range.upperBound)]), "\(range)")
            }
        }
        // Whatever the provider holds, these are not there to answer.
        #expect(p.cachedGet("hand", range: 4000..<5001) == nil, "past the end")
        #expect(p.cachedGet("missing", range: 0..<1) == nil)
        #expect(p.cachedGet("../hand", range: 0..<1) == nil, "a name that could escape")
        try await p.put("hand", bytes: pattern(10, seed: 8))
        if let block = p.cachedGet("hand", range: 0..<10) { #expect(block.bytes == pattern(10, seed: 8), "after an overwrite") }
    }

    static func streamed(_ p: any Provider) async throws {
        let blocks = (0..<40).map { ByteBlock(pattern(65_536 + $0, seed: UInt8($0))) }
        let total = blocks.reduce(0) { $0 + $1.count }
        try await p.put("streamed", length: Int64(total), body: blocks.async)
        #expect(try await p.get("streamed", range: nil).bytes == blocks.flatMap(\.bytes))
        #expect(try await p.head("streamed").size == Int64(total))
    }

    static func overwrite(_ p: any Provider) async throws {
        try await p.put("over", bytes: pattern(3000, seed: 1))
        try await p.put("over", bytes: pattern(10, seed: 2))
        #expect(try await p.get("over", range: nil).bytes == pattern(10, seed: 2))
    }

    static func shortBody(_ p: any Provider) async throws {
        await expectKind(.invalidArgument) {
            try await p.put("short-body", length: 100, body: [ByteBlock(pattern(99))].async)
        }
        await expectKind(.notFound) { _ = try await p.head("short-body") }
    }

    static func longBody(_ p: any Provider) async throws {
        await expectKind(.invalidArgument) {
            try await p.put("long-body", length: 100, body: [ByteBlock(pattern(60)), ByteBlock(pattern(60))].async)
        }
        await expectKind(.notFound) { _ = try await p.head("long-body") }
    }

    struct BodyFailure: Error {}

    static func failingBody(_ p: any Provider) async throws {
        try await p.put("keep", bytes: pattern(500, seed: 3))
        let body = AsyncThrowingStream<ByteBlock, any Error> { continuation in
            continuation.yield(ByteBlock(pattern(400)))
            continuation.finish(throwing: BodyFailure())
        }
        await #expect(throws: (any Error).self) { try await p.put("keep", length: 1000, body: body) }
        #expect(try await p.get("keep", range: nil).bytes == pattern(500, seed: 3))
        let listed = try await p.listAll()
        #expect(listed.map(\.name) == ["keep"], "no temporary or partial blob is listed")
    }

    static func abandonedWrites(_ p: any Provider) async throws {
        try await p.put("kept", bytes: pattern(300))
        // A put in progress, its body paused half way while the leftovers of others go.
        let (body, continuation) = AsyncThrowingStream<ByteBlock, any Error>.makeStream()
        continuation.yield(ByteBlock(pattern(600)))
        let running = Task { try await p.put("running", length: 1200, body: body) }
        try await Task.sleep(for: .milliseconds(50))
        _ = try await p.removeAbandonedWrites(olderThan: .seconds(60))
        continuation.yield(ByteBlock(pattern(600, seed: 2)))
        continuation.finish()
        try await running.value
        #expect(try await p.get("running", range: nil).bytes == pattern(600) + pattern(600, seed: 2))
        // However old the cut-off, blobs stay.
        _ = try await p.removeAbandonedWrites(olderThan: .zero)
        #expect(try await p.listAll().map(\.name) == ["kept", "running"])
        #expect(try await p.get("kept", range: nil).bytes == pattern(300))
    }

    static func head(_ p: any Provider) async throws {
        try await p.put("sized", bytes: pattern(1234))
        #expect(try await p.head("sized") == BlobInfo(name: "sized", size: 1234))
        await expectKind(.notFound) { _ = try await p.head("absent") }
        await expectKind(.notFound) { _ = try await p.get("absent", range: nil) }
    }

    static func delete(_ p: any Provider) async throws {
        try await p.put("gone", bytes: pattern(10))
        try await p.delete("gone")
        try await p.delete("gone")
        await expectKind(.notFound) { _ = try await p.head("gone") }
    }

    static func listing(_ p: any Provider) async throws {
        let names = (0..<25).map { "ab\(String($0, radix: 16))" } + ["b", "ba", "a", "ab"]
        for name in names { try await p.put(name, bytes: [1, 2, 3]) }
        let all = try await p.listAll(pageSize: 4).map(\.name)
        #expect(all == names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        let prefixed = try await p.listAll(prefix: "ab1", pageSize: 3).map(\.name)
        #expect(prefixed == names.filter { $0.hasPrefix("ab1") }.sorted())
        let page = try await p.list(prefix: "", after: "ab9", limit: 2)
        #expect(page.map(\.name) == ["aba", "abb"])
        #expect(try await p.list(prefix: "zz", after: nil, limit: 10).isEmpty)
        #expect(try await p.listAll(prefix: "b").allSatisfy { $0.size == 3 })
    }

    static func hostileNames(_ p: any Provider) async throws {
        for name in ["", "../escape", "a/b", "/etc/passwd", ".hidden", "..", "a\u{0}b", "UPPER", "tab\tname",
                     String(repeating: "x", count: 201), "%2e%2e", "ü"] {
            await expectKind(.invalidArgument, name) { try await p.put(name, bytes: [1]) }
            await expectKind(.invalidArgument, name) { _ = try await p.get(name, range: nil) }
            await expectKind(.invalidArgument, name) { try await p.delete(name) }
        }
    }

    static func concurrentPuts(_ p: any Provider) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<16 { group.addTask { try await p.put("c\(i)", bytes: pattern(20_000, seed: UInt8(i))) } }
            try await group.waitForAll()
        }
        for i in 0..<16 { #expect(try await p.get("c\(i)", range: nil).bytes == pattern(20_000, seed: UInt8(i))) }
    }

    /// Expects `body` to throw a ``ProviderError`` of `kind`.
    static func expectKind(_ kind: ProviderError.Kind, _ context: String = "",
                           sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected a \(kind) error \(context)", sourceLocation: sourceLocation)
        } catch let error as ProviderError {
            #expect(error.kind == kind, "\(context): \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected a ProviderError \(kind), got \(error) \(context)", sourceLocation: sourceLocation)
        }
    }
}
