import Crypto
import Foundation
import NuageCore
import Synchronization

/// A master key that lives in a token (an HSM behind PKCS#11) and never leaves it: the token
/// seals and opens with it, and computes a MAC for deriving sub-keys.
///
/// Implementations throw `NuageError.keyUnavailable` when the token cannot be reached or
/// refuses the call, and `NuageError.integrity` when sealed bytes do not authenticate.
public protocol MasterKeyToken: Sendable {
    /// Names the key for people (a `pkcs11:` URI); never holds a secret.
    var name: String { get }
    /// AES-256-GCM under the master key with this 12-byte nonce: `ciphertext ‖ tag(16)`.
    func seal(_ plaintext: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8]
    /// Opens `ciphertext ‖ tag(16)` sealed by ``seal(_:nonce:associatedData:)``.
    func open(_ sealed: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8]
    /// AES-CMAC under the master key: 16 bytes.
    func cmac(_ message: [UInt8]) throws -> [UInt8]
}

extension MasterKeyToken {
    /// A 32-byte sub-key for `purpose`: NIST SP 800-108 in counter mode with AES-CMAC as the
    /// PRF, computed inside the token: `CMAC(i(1) ‖ "nuage/v1/<purpose>" ‖ 0x00 ‖ 256(2))`
    /// for i = 1, 2, concatenated.
    func derive(purpose: String) throws -> SymmetricKey {
        let label = Array("nuage/v1/\(purpose)".utf8)
        var bytes: [UInt8] = []
        for counter: UInt8 in 1...2 {
            bytes += try cmac([counter] + label + [0x00, 0x01, 0x00])
        }
        defer { for index in bytes.indices { bytes[index] = 0 } }
        return SymmetricKey(data: bytes)
    }
}

/// Data and chunk-tag keys a token unwrapped, kept so that not every read costs a token call.
/// Bounded in count and in age; an evicted key's storage is zeroed when its last use ends
/// (swift-crypto's `SymmetricKey`).
public final class UnwrappedKeyCache: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Keys kept at most; 0 turns the cache off.
        public var count: Int
        /// How long a key stays after it was unwrapped.
        public var lifetime: Duration
        public static let `default` = Limits(count: 10_000, lifetime: .seconds(300))
        public init(count: Int, lifetime: Duration) {
            self.count = count
            self.lifetime = lifetime
        }
    }

    public struct Counts: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public var evictions = 0
        public init(hits: Int = 0, misses: Int = 0, evictions: Int = 0) {
            self.hits = hits
            self.misses = misses
            self.evictions = evictions
        }
    }

    private struct Entry {
        let key: SymmetricKey
        let expires: ContinuousClock.Instant
    }

    private struct State {
        var entries: [[UInt8]: Entry] = [:]
        /// Insertion order, oldest first: the first to go when the cache is full.
        var order: [[UInt8]] = []
        var counts = Counts()
    }

    public let limits: Limits
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex(State())

    /// - Parameter now: the clock (injected by tests).
    public init(limits: Limits = .default, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.limits = limits
        self.now = now
    }

    public var counts: Counts { state.withLock { $0.counts } }

    /// The key cached for these wrapped bytes and context, or the one `unwrap` returns (then kept).
    func key(wrapped: [UInt8], context: [UInt8], unwrap: () throws -> SymmetricKey) throws -> SymmetricKey {
        let id = wrapped + context
        let time = now()
        if let hit = state.withLock({ state -> SymmetricKey? in
            guard let entry = state.entries[id] else { state.counts.misses += 1; return nil }
            guard entry.expires > time else {
                state.entries[id] = nil
                state.order.removeAll { $0 == id }
                state.counts.evictions += 1
                state.counts.misses += 1
                return nil
            }
            state.counts.hits += 1
            return entry.key
        }) { return hit }
        let key = try unwrap()
        guard limits.count > 0, limits.lifetime > .zero else { return key }
        state.withLock { state in
            // Expired keys leave now, not only when looked up again. Every key lives as long, so
            // the expired ones are the oldest: a prefix of the insertion order.
            while let oldest = state.order.first, state.entries[oldest].map({ $0.expires <= time }) ?? true {
                state.order.removeFirst()
                if state.entries.removeValue(forKey: oldest) != nil { state.counts.evictions += 1 }
            }
            if state.entries[id] == nil { state.order.append(id) }
            state.entries[id] = Entry(key: key, expires: time + limits.lifetime)
            while state.order.count > limits.count {
                state.entries[state.order.removeFirst()] = nil
                state.counts.evictions += 1
            }
        }
        return key
    }

    /// Whether a key for these wrapped bytes and context is cached and fresh (not counted).
    func contains(wrapped: [UInt8], context: [UInt8]) -> Bool {
        let time = now()
        return state.withLock { $0.entries[wrapped + context].map { $0.expires > time } ?? false }
    }

    /// Forgets every key (their storage is zeroed as their last uses end).
    public func removeAll() {
        state.withLock { state in
            state.counts.evictions += state.entries.count
            state.entries = [:]
            state.order = []
        }
    }
}

/// Token calls block their thread for as long as the token takes (a network HSM may take long,
/// or hang): the async entry points of ``MasterKey`` run them here, one at a time (the module
/// serialises them anyway), never on Swift's few cooperative threads.
enum TokenThread {
    private static let queue = DispatchQueue(label: "nuage.master-key-token")

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
