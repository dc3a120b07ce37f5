import Foundation
import NuageCore
import Synchronization

/// Wraps a provider and misbehaves on demand, switchable at run time: for chaos tests and
/// `nuage bench pipeline --fault`. With no fault set it forwards every call unchanged.
public final class FaultInjectingProvider: Provider {
    public enum Fault: Sendable, Hashable, CustomStringConvertible {
        /// Every call is refused at once.
        case down
        /// Each call fails (unavailable) with this probability.
        case errorRate(Double)
        /// Every call waits this long first.
        case latency(Duration)
        /// Calls never answer (until cancelled).
        case stall
        /// Bodies move at this many bytes per second.
        case slowBandwidth(Int)
        /// Reads return one flipped byte.
        case flipBytes
        /// Reads return fewer bytes than asked.
        case truncatedReads
        /// Reads return another blob's bytes.
        case otherBlob
        /// Writes succeed without storing anything.
        case lostWrites
        /// Writes take this many bytes of the body, then fail as a full disk does (and read no more).
        case failWritesAfter(Int)

        /// `down`, `error-rate:0.3`, `latency:200ms`, `stall`, `bandwidth:1048576`, `flip`,
        /// `truncate`, `other-blob`, `lost-writes`, `fail-writes-after:65536`.
        public init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            switch (parts.first ?? "", parts.count > 1 ? parts[1] : nil) {
            case ("down", nil): self = .down
            case ("stall", nil): self = .stall
            case ("flip", nil): self = .flipBytes
            case ("truncate", nil): self = .truncatedReads
            case ("other-blob", nil): self = .otherBlob
            case ("lost-writes", nil): self = .lostWrites
            case ("error-rate", let value?): guard let p = Double(value), (0...1).contains(p) else { return nil }; self = .errorRate(p)
            case ("fail-writes-after", let value?): guard let b = Int(value), b >= 0 else { return nil }; self = .failWritesAfter(b)
            case ("bandwidth", let value?): guard let b = Int(value), b > 0 else { return nil }; self = .slowBandwidth(b)
            case ("latency", let value?):
                guard value.hasSuffix("ms"), let ms = Int(value.dropLast(2)), ms >= 0 else { return nil }
                self = .latency(.milliseconds(ms))
            default: return nil
            }
        }

        public var description: String {
            switch self {
            case .down: "down"
            case .errorRate(let p): "error-rate:\(p)"
            case .latency(let d): "latency:\(Int((d.inSeconds * 1000).rounded()))ms"
            case .stall: "stall"
            case .slowBandwidth(let b): "bandwidth:\(b)"
            case .flipBytes: "flip"
            case .truncatedReads: "truncate"
            case .otherBlob: "other-blob"
            case .lostWrites: "lost-writes"
            case .failWritesAfter(let b): "fail-writes-after:\(b)"
            }
        }
    }

    public let inner: any Provider
    public var name: String { inner.name }
    private let active = Mutex<[Fault]>([])

    public init(_ inner: any Provider) { self.inner = inner }

    /// Replaces the active faults.
    public func set(_ faults: [Fault]) { active.withLock { $0 = faults } }
    public var faults: [Fault] { active.withLock { $0 } }

    /// Applies the faults that act before any call: refusal, errors, latency, stalls.
    private func before(_ operation: String) async throws {
        for fault in faults {
            switch fault {
            case .down: throw ProviderError(.unavailable, provider: name, "\(operation): connection refused (injected)")
            case .errorRate(let p) where Double.random(in: 0..<1) < p:
                throw ProviderError(.unavailable, provider: name, "\(operation): injected error")
            case .latency(let delay): try await Task.sleep(for: delay)
            case .stall:
                while true { try await Task.sleep(for: .seconds(3600)) }
            default: break
            }
        }
    }

    private func throttle(_ bytes: Int) async throws {
        for case .slowBandwidth(let rate) in faults {
            try await Task.sleep(for: .milliseconds(bytes * 1000 / rate))
        }
    }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        try await before("put \(blob)")
        for case .failWritesAfter(let limit) in faults {
            var taken = 0
            for try await block in body {
                taken += block.count
                if taken >= limit { break }
            }
            throw ProviderError(.unavailable, provider: name, "put \(blob): write: No space left on device (injected after \(taken) bytes)")
        }
        if faults.contains(.lostWrites) {
            for try await block in body { try await throttle(block.count) }
            return
        }
        if faults.contains(where: { if case .slowBandwidth = $0 { true } else { false } }) {
            try await inner.put(blob, length: length, body: ThrottledBody(body: body, throttle: throttle))
        } else {
            try await inner.put(blob, length: length, body: body)
        }
    }

    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        try await before("get \(blob)")
        var block = try await inner.get(blob, range: range)
        try await throttle(block.count)
        let faults = self.faults
        if faults.contains(.otherBlob), let other = try await inner.list(prefix: "", after: nil, limit: 100).first(where: { $0.name != blob }),
           let replacement = try? await inner.get(other.name, range: range.map { $0.clamped(to: 0..<other.size) }) {
            block = replacement
        }
        if faults.contains(.flipBytes), block.count > 0 {
            var bytes = block.bytes
            bytes[bytes.count / 2] ^= 0x40
            block = ByteBlock(bytes)
        }
        if faults.contains(.truncatedReads), block.count > 0 {
            block = ByteBlock(Array(block.bytes.prefix(block.count / 2)))
        }
        return block
    }

    /// Forwarded while no fault is set; with one, nothing is at hand and every read takes the
    /// faulty path.
    public func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? {
        faults.isEmpty ? inner.cachedGet(blob, range: range) : nil
    }

    public func head(_ blob: String) async throws -> BlobInfo {
        try await before("head \(blob)")
        return try await inner.head(blob)
    }

    public func delete(_ blob: String) async throws {
        try await before("delete \(blob)")
        try await inner.delete(blob)
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        try await before("list \(prefix)")
        return try await inner.list(prefix: prefix, after: after, limit: limit)
    }

    public func removeAbandonedWrites(olderThan age: Duration) async throws -> Int {
        try await before("remove abandoned writes")
        return try await inner.removeAbandonedWrites(olderThan: age)
    }
}

/// A body whose blocks are delayed by a throttle.
struct ThrottledBody<Body: AsyncSequence & Sendable>: AsyncSequence, Sendable where Body.Element == ByteBlock {
    typealias Element = ByteBlock
    let body: Body
    let throttle: @Sendable (Int) async throws -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Body.AsyncIterator
        let throttle: @Sendable (Int) async throws -> Void
        mutating func next() async throws -> ByteBlock? {
            guard let block = try await inner.next() else { return nil }
            try await throttle(block.count)
            return block
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: body.makeAsyncIterator(), throttle: throttle) }
}
