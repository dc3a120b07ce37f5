import Crypto
import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import Synchronization
import Testing

@Suite struct EngineTests {
    static let segment = 4096

    @Test(arguments: [0, 1, segment - 1, segment, segment + 1, 3 * segment + 5, 65_537])
    func roundTrip(size: Int) async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(size, seed: UInt64(size))
        let record = try await f.engine.put(bucket: "bkt", key: "obj", size: Int64(size), body: BytesBody(data),
                                            metadata: ["content-type": "application/x-test"])
        #expect(record.size == Int64(size))
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "obj") == data)
        #expect(try await f.engine.head(bucket: "bkt", key: "obj").metadata["content-type"] == "application/x-test")
        #expect(f.providerFiles().count == 6, "one shard blob on each of the six providers")
    }

    /// Property: remove up to m whole providers, corrupt chunks of others; every read returns
    /// exactly the bytes written, or (past m) an error naming the providers.
    @Test(arguments: 0..<6)
    func erasuresAndCorruptionNeverReturnWrongBytes(seed: Int) async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        var generator = SeededGenerator(seed: UInt64(seed))
        try await f.engine.createBucket("bkt")
        let sizes = [0, 1, Self.segment - 1, Self.segment + 1, Int.random(in: 2...(5 << 20), using: &generator)]
        var objects: [String: [UInt8]] = [:]
        for (i, size) in sizes.enumerated() {
            let data = bytes(size, seed: UInt64(seed * 100 + i))
            objects["k\(i)"] = data
            try await f.engine.put(bucket: "bkt", key: "k\(i)", size: Int64(size), body: BytesBody(data))
        }
        // Lose up to m = 2 providers entirely.
        let lost = Array(f.providerRoots.keys.sorted().shuffled(using: &generator).prefix(Int.random(in: 0...2, using: &generator)))
        for name in lost { try FileManager.default.removeItem(atPath: f.providerRoots[name]!) }
        // Corrupt one random chunk byte in blobs of providers that remain, but only in
        // (m - lost) distinct shards so that every segment stays recoverable.
        let survivors = f.providerRoots.keys.sorted().filter { !lost.contains($0) }
        let corruptible = Set(survivors.shuffled(using: &generator).prefix(2 - lost.count))
        for file in f.providerFiles() where corruptible.contains(where: { file.contains("/providers/\($0)/") }) {
            try flipByte(in: file, using: &generator)
        }
        for (key, data) in objects {
            #expect(try await f.engine.getBytes(bucket: "bkt", key: key) == data, "\(key) lost \(lost) corrupted \(corruptible)")
        }
    }

    @Test func moreThanMProvidersGoneIsAnErrorNamingThem() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(50_000, seed: 9)
        let record = try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        let victims = record.parts[0].shards.prefix(3).map { $0!.provider }
        for name in victims { try FileManager.default.removeItem(atPath: f.providerRoots[name]!) }
        await #expect { _ = try await f.engine.getBytes(bucket: "bkt", key: "k") } throws: { error in
            guard let error = error as? NuageError, error.code == .insufficientShards else { return false }
            return victims.allSatisfy { error.message.contains($0) }
        }
    }

    @Test func corruptionInMoreThanMShardsIsAnErrorNotWrongBytes() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(3 * Self.segment, seed: 4)
        let record = try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        // The same byte of segment 1 in three shards: three erasures in one segment.
        for ref in record.parts[0].shards.prefix(3) {
            try flipByte(in: f.path(of: ref!), at: 2048 + 1500 + Self.segment / 4 + 16 + 10)
        }
        await #expect { _ = try await f.engine.getBytes(bucket: "bkt", key: "k") } throws: {
            ($0 as? NuageError)?.code == .insufficientShards
        }
        // Ranges that avoid segment 1 still read.
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k", range: 0..<100) == Array(data[0..<100]))
    }

    @Test func readsThatSawAnErasureFlagTheObjectForRepair() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(10_000, seed: 5)
        let record = try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        try FileManager.default.removeItem(atPath: f.path(of: record.parts[0].shards[0]!))
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == data)
        var notes: [RepairNote] = []
        for _ in 0..<50 where notes.isEmpty {
            notes = try await f.engine.catalog.pendingRepairs(limit: 100)
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(notes.map(\.shard) == [0])
        #expect(notes.first?.versionID == record.versionID)
    }

    @Test func byteRangesReadExactlyTheirBytes() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let size = 10 * Self.segment + 123
        let data = bytes(size, seed: 11)
        try await f.engine.put(bucket: "bkt", key: "k", size: Int64(size), body: BytesBody(data))
        var generator = SeededGenerator(seed: 3)
        var ranges: [Range<Int>] = [0..<1, 0..<size, size - 1..<size, Self.segment..<2 * Self.segment, Self.segment - 1..<Self.segment + 1]
        for _ in 0..<20 {
            let a = Int.random(in: 0..<size, using: &generator)
            ranges.append(a..<Int.random(in: (a + 1)...size, using: &generator))
        }
        for range in ranges {
            let got = try await f.engine.getBytes(bucket: "bkt", key: "k", range: Int64(range.lowerBound)..<Int64(range.upperBound))
            #expect(got == Array(data[range]), "range \(range)")
        }
        for bad in [Int64(size)..<Int64(size + 1), -1..<5, 5..<5] as [Range<Int64>] {
            await #expect { _ = try await f.engine.get(bucket: "bkt", key: "k", range: bad) } throws: {
                ($0 as? NuageError)?.code == .invalidArgument
            }
        }
    }

    @Test func overwriteIsAtomicAndCollectsOldBlobs() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let first = bytes(20_000, seed: 1), second = bytes(7_000, seed: 2)
        let old = try await f.engine.put(bucket: "bkt", key: "k", size: Int64(first.count), body: BytesBody(first))
        try await f.engine.put(bucket: "bkt", key: "k", size: Int64(second.count), body: BytesBody(second))
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == second)
        for ref in old.blobs { #expect(!FileManager.default.fileExists(atPath: f.path(of: ref))) }
        #expect(f.providerFiles().count == 6)
        #expect(try await f.engine.catalog.garbage(limit: 10).isEmpty)
    }

    @Test func deleteRemovesObjectAndBlobs() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        try await f.engine.put(bucket: "bkt", key: "k", size: 3, body: BytesBody([1, 2, 3]))
        try await f.engine.delete(bucket: "bkt", key: "k")
        await #expect { _ = try await f.engine.head(bucket: "bkt", key: "k") } throws: { ($0 as? NuageError)?.code == .noSuchKey }
        #expect(f.providerFiles().isEmpty)
        try await f.engine.delete(bucket: "bkt", key: "k")
        await #expect { try await f.engine.delete(bucket: "nope", key: "k") } throws: { ($0 as? NuageError)?.code == .noSuchBucket }
        try await f.engine.deleteBucket("bkt")
    }

    @Test func conditionalPuts() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let first = try await f.engine.put(bucket: "bkt", key: "k", size: 1, body: BytesBody([1]), condition: .mustNotExist)
        await #expect { try await f.engine.put(bucket: "bkt", key: "k", size: 1, body: BytesBody([2]), condition: .mustNotExist) }
            throws: { ($0 as? NuageError)?.code == .preconditionFailed }
        await #expect { try await f.engine.put(bucket: "bkt", key: "k", size: 1, body: BytesBody([2]), condition: .etagMatches("nope")) }
            throws: { ($0 as? NuageError)?.code == .preconditionFailed }
        try await f.engine.put(bucket: "bkt", key: "k", size: 1, body: BytesBody([3]), condition: .etagMatches(first.etag))
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == [3])
        #expect(f.providerFiles().count == 6, "refused puts leave no blobs")
    }

    /// The ETag is the body's MD5 unless one is given; a given ETag skips the MD5, except for a
    /// body that checks a declared MD5, which is still checked.
    @Test func etagIsTheMD5UnlessGiven() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(3 * Self.segment + 7, seed: 11)
        let hashed = try await f.engine.put(bucket: "bkt", key: "a", size: Int64(data.count), body: BytesBody(data))
        #expect(hashed.etag == Array(Insecure.MD5.hash(data: data)).hex)
        let given = try await f.engine.put(bucket: "bkt", key: "b", size: Int64(data.count), body: BytesBody(data), etag: "given")
        #expect(given.etag == "given")
        #expect(try await f.engine.head(bucket: "bkt", key: "b").etag == "given")
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "b") == data)

        let right = MD5CheckingBody(data, declared: Array(Insecure.MD5.hash(data: data)))
        #expect(try await f.engine.put(bucket: "bkt", key: "c", size: Int64(data.count), body: right, etag: "given").etag == "given")
        #expect(right.checked.withLock { $0 } == 1)
        let wrong = MD5CheckingBody(data, declared: [UInt8](repeating: 0, count: 16))
        await #expect { try await f.engine.put(bucket: "bkt", key: "d", size: Int64(data.count), body: wrong, etag: "given") }
            throws: { ($0 as? NuageError)?.code == .integrity }
        #expect(try await f.engine.list(bucket: "bkt").objects.map(\.key) == ["a", "b", "c"])

        // The MD5 stage runs only when asked for, or when the body checks an MD5.
        for (body, hashing, computed) in [(BytesBody(data) as any ObjectBody, false, false), (BytesBody(data), true, true),
                                          (MD5CheckingBody(data, declared: Array(Insecure.MD5.hash(data: data))), false, true)] {
            let stream = try await f.engine.writeStream(bucket: "bkt", key: "e", size: Int64(data.count), body: body,
                                                        headerMetadata: [:], hashing: hashing)
            #expect((stream.computedETag != nil) == computed, "hashing \(hashing), \(type(of: body))")
            try await f.engine.catalog.abandonIntent(stream.intent)
            await f.engine.collect(stream.manifest.blobs)
        }
    }

    @Test func badInputIsRefusedAndStoresNothing() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        for key in ["", "a/../b", "..", "nul\u{0}key"] {
            await #expect { try await f.engine.put(bucket: "bkt", key: key, size: 1, body: BytesBody([1])) }
                throws: { ($0 as? NuageError)?.code == .invalidKey }
        }
        await #expect { try await f.engine.put(bucket: "bkt", key: String(repeating: "k", count: 1025), size: 1, body: BytesBody([1])) }
            throws: { ($0 as? NuageError)?.code == .keyTooLong }
        for bucket in ["A", "ab", "-abc", "a..b", "192.168.1.1", String(repeating: "bkt", count: 64)] {
            await #expect { try await f.engine.createBucket(bucket) } throws: { ($0 as? NuageError)?.code == .invalidBucketName }
        }
        // Bodies shorter or longer than declared.
        await #expect { try await f.engine.put(bucket: "bkt", key: "short", size: 10_000, body: BytesBody(bytes(9_999, seed: 1))) }
            throws: { ($0 as? NuageError)?.code == .incompleteBody }
        await #expect { try await f.engine.put(bucket: "bkt", key: "long", size: 10_000, body: BytesBody(bytes(10_001, seed: 1))) }
            throws: { ($0 as? NuageError)?.code == .invalidArgument }
        await #expect { try await f.engine.put(bucket: "nobucket", key: "k", size: 1, body: BytesBody([1])) }
            throws: { ($0 as? NuageError)?.code == .noSuchBucket }
        #expect(f.providerFiles().isEmpty)
        #expect(try await f.engine.list(bucket: "bkt").objects.isEmpty)
    }

    /// A put that dies part-way (the client disconnects) leaves nothing visible and no blobs.
    @Test func failedPutLeavesNothing() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        try await f.engine.put(bucket: "bkt", key: "k", size: 5, body: BytesBody([1, 2, 3, 4, 5]))
        let data = bytes(20 * Self.segment, seed: 8)
        await #expect(throws: FailingBody.Disconnected.self) {
            try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: FailingBody(data, failAfter: 7 * Self.segment + 3))
        }
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == [1, 2, 3, 4, 5], "the old version is untouched")
        #expect(f.providerFiles().count == 6, "only the old version's blobs remain")
        #expect(try await f.engine.catalog.intents(before: Date().addingTimeInterval(10)).isEmpty)
    }

    /// A gateway killed mid-put: its intent and blobs remain; nothing is visible; gc removes them
    /// once the grace period has passed, and never touches a write still in its grace period.
    @Test func crashedPutIsInvisibleAndCollected() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let names = f.providerRoots.keys.sorted()
        // What a crashed put leaves: an intent, and some of its blobs written.
        let crashed = WriteIntent(id: "crashed", created: Date().addingTimeInterval(-7200),
                                  blobs: names.map { BlobRef(provider: $0, blob: "deadbeef\($0.count)0000000000000000000000") })
        try await f.engine.catalog.recordIntent(crashed)
        for ref in crashed.blobs.prefix(4) { try await f.engine.providers[ref.provider]!.put(ref.blob, bytes: [1, 2, 3]) }
        // A write in progress (recent intent) and a stray blob nothing references.
        let running = WriteIntent(id: "running", created: Date(), blobs: [BlobRef(provider: names[0], blob: "cafe0000000000000000000000000000")])
        try await f.engine.catalog.recordIntent(running)
        try await f.engine.providers[names[0]]!.put(running.blobs[0].blob, bytes: [9])
        try await f.engine.providers[names[1]]!.put("0123456789abcdef0123456789abcdef", bytes: [7])
        try await f.engine.put(bucket: "bkt", key: "live", size: 4, body: BytesBody([4, 3, 2, 1]))

        #expect(try await f.engine.list(bucket: "bkt").objects.map(\.key) == ["live"])
        let report = try await f.engine.collectGarbage(grace: .seconds(3600))
        #expect(report.abandonedIntents == 1)
        #expect(report.deletedGarbage == 6)
        #expect(report.deletedOrphans == 1)
        #expect(f.providerFiles().count == 7, "the live object's six blobs and the running write's blob")
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "live") == [4, 3, 2, 1])
        #expect(try await f.engine.catalog.intents(before: Date().addingTimeInterval(10)).map(\.id) == ["running"])
    }

    @Test func quorumWritesRecordMissingShardsAndStillRead() async throws {
        let f = try await EngineFixture(wrap: { name, provider in name == "de-2" ? RefusingProvider(inner: provider) : provider })
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let data = bytes(30_000, seed: 6)
        let record = try await f.engine.put(bucket: "bkt", key: "k", size: Int64(data.count), body: BytesBody(data))
        let missing = record.parts[0].shards.indices.filter { record.parts[0].shards[$0] == nil }
        #expect(missing.count == 1)
        #expect(try await f.engine.catalog.pendingRepairs(limit: 100).map(\.shard) == missing)
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "k") == data)
        let status = try await f.engine.status(bucket: "bkt", key: "k")
        #expect(status.shards.filter { $0.health == .notWritten }.count == 1)
    }

    @Test func writesBelowQuorumFailNamingProvidersAndLeaveNothing() async throws {
        let f = try await EngineFixture(wrap: { name, provider in ["de-2", "fr-3"].contains(name) ? RefusingProvider(inner: provider) : provider })
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        await #expect {
            try await f.engine.put(bucket: "bkt", key: "k", size: 10_000, body: BytesBody(bytes(10_000, seed: 1)))
        } throws: { error in
            guard let error = error as? NuageError, error.code == .insufficientShards else { return false }
            return error.message.contains("de-2") && error.message.contains("fr-3")
        }
        #expect(f.providerFiles().isEmpty)
        await #expect { _ = try await f.engine.head(bucket: "bkt", key: "k") } throws: { ($0 as? NuageError)?.code == .noSuchKey }
    }

    /// Nothing a provider stores contains names, metadata or content in the clear.
    @Test func providersSeeNoNamesMetadataOrPlaintext() async throws {
        let f = try await EngineFixture(segmentSize: 1 << 20)
        defer { f.cleanUp() }
        let marker = "zebra-marker-31337"
        try await f.engine.createBucket(marker)
        let content = Array(repeating: Array("secret \(marker) payload ".utf8), count: 5000).flatMap { $0 }
        try await f.engine.put(bucket: marker, key: "dir/\(marker).txt", size: Int64(content.count), body: BytesBody(content),
                               metadata: ["x-amz-meta-note": marker, "content-type": "text/\(marker)"])
        let needle = Array(marker.utf8)
        let files = f.providerFiles()
        #expect(files.count == 6)
        for file in files {
            #expect(!file.contains(marker), "blob path \(file)")
            let stored = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
            #expect(!contains(stored, needle), "\(file) contains the marker")
            #expect(!contains(stored, Array("secret ".utf8)), "\(file) contains plaintext")
        }
    }

    @Test func shardHeadersRebuildTheCatalogEntry() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let record = try await f.engine.put(bucket: "bkt", key: "some/key", size: 9000, body: BytesBody(bytes(9000, seed: 2)),
                                            metadata: ["content-type": "text/plain"])
        for (index, ref) in record.parts[0].shards.enumerated() {
            let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: f.path(of: ref!))).prefix(ShardHeader.size))
            let header = try ShardHeader.open(raw, with: f.engine.masterKey)
            #expect(header.shardIndex == index)
            #expect(header.bucket == "bkt" && header.key == "some/key")
            #expect(header.versionID == record.versionID && header.objectSize == 9000)
            #expect(header.wrappedKey == record.parts[0].wrappedKey && header.keyID == f.engine.masterKey.id)
            #expect(header.metadata == ["content-type": "text/plain"])
        }
    }

    @Test func goldenShardHeaderOpens() throws {
        let master = try MasterKeyFixture.golden()
        let raw = stride(from: 0, to: goldenHeaderV1.count, by: 2).map {
            UInt8(goldenHeaderV1[goldenHeaderV1.index(goldenHeaderV1.startIndex, offsetBy: $0)...].prefix(2), radix: 16)!
        }
        let header = try ShardHeader.open(raw, with: master)
        #expect(header.versionID == Array(100..<116))
        #expect(header.shardIndex == 2 && header.dataShards == 4 && header.parityShards == 2)
        #expect(header.segmentSize == 1 << 20 && header.objectSize == 2_621_440)
        #expect(header.createdMilliseconds == 1_764_000_000_000 && header.keyID == 0x3729_62BE)
        #expect(header.wrappedKey == Array(0..<60))
        #expect(header.bucket == "photos" && header.key == "2026/report été.pdf")
        #expect(header.metadata == ["content-type": "application/pdf", "x-amz-meta-owner": "finance"])
        #expect(!header.metadataOmitted)
        var tampered = raw
        tampered[100] ^= 1
        #expect(throws: NuageError.self) { try ShardHeader.open(tampered, with: master) }
        let layout = ShardLayout(size: header.objectSize, segmentSize: header.segmentSize, dataShards: header.dataShards)
        #expect(layout.segmentCount == 3)
        #expect(layout.stride == (1_048_576 + 16) / 4 + 16)
        #expect(layout.blobLength == 2048 + 2 * 262_164 + (524_288 + 16 + 3) / 4 + 16)
    }
}

import NuageCrypto
enum MasterKeyFixture {
    static func golden() throws -> MasterKey { try MasterKey(bytes: Array(200..<232)) }
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard needle.count <= haystack.count else { return false }
    return (0...(haystack.count - needle.count)).contains { i in haystack[i..<(i + needle.count)].elementsEqual(needle) }
}

func flipByte(in file: String, using generator: inout SeededGenerator) throws {
    let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int
    guard size > 2048 else { return }
    try flipByte(in: file, at: Int.random(in: 2048..<size, using: &generator))
}

func flipByte(in file: String, at offset: Int) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let byte = try handle.read(upToCount: 1)![0]
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: [byte ^ 0x5A])
}

/// xorshift, so that property tests replay.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

/// A body that declared an MD5 (as S3's Content-MD5) and counts the checks.
final class MD5CheckingBody: ObjectBody {
    let inner: BytesBody
    let declared: [UInt8]
    let checked = Mutex(0)
    init(_ bytes: [UInt8], declared: [UInt8]) {
        inner = BytesBody(bytes)
        self.declared = declared
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int { try await inner.read(into: buffer) }
    var checksMD5: Bool { true }
    func verify(md5: [UInt8]) throws {
        checked.withLock { $0 += 1 }
        guard md5 == declared else { throw NuageError(.integrity, "MD5 does not match") }
    }
}
