import Foundation
import NuageCatalog
import NuageCrypto
import Synchronization

/// What a gateway knows of the KMS keys: their records, read from the catalog again once they
/// are older than ``lifetime`` (so a key disabled through another process or gateway is refused
/// here within that time), and the keys it unwrapped, kept only while their key is enabled.
final class KMSKeyCache: Sendable {
    /// How long records are trusted before the catalog is read again.
    let lifetime: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state = Mutex(State())

    private struct State {
        var byName: [String: KMSKeyRecord] = [:]
        var byID: [[UInt8]: KMSKeyRecord] = [:]
        var loaded: ContinuousClock.Instant?
        var unwrapped: [[UInt8]: KMSKey] = [:]
    }

    init(lifetime: Duration = .seconds(2), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.lifetime = lifetime
        self.now = now
    }

    /// The records by name and by id, read again through `load` when stale (or when `fresh`:
    /// a key asked for and not known may have been created since).
    func records(fresh: Bool = false, load: () async throws -> [KMSKeyRecord]) async throws -> (byName: [String: KMSKeyRecord], byID: [[UInt8]: KMSKeyRecord]) {
        let now = self.now()
        if !fresh, let fresh = state.withLock({ state in
            state.loaded.map { now - $0 < lifetime } == true ? (state.byName, state.byID) : nil
        }) {
            return fresh
        }
        let records = try await load()
        return state.withLock { state in
            state.byName = Dictionary(uniqueKeysWithValues: records.map { ($0.name, $0) })
            state.byID = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            state.loaded = now
            // A key that is no longer enabled (or whose record changed) is unwrapped again, if ever.
            state.unwrapped = state.unwrapped.filter { id, _ in state.byID[id]?.state == .enabled }
            return (state.byName, state.byID)
        }
    }

    func unwrapped(id: [UInt8]) -> KMSKey? { state.withLock { $0.unwrapped[id] } }

    func remember(_ key: KMSKey) { state.withLock { $0.unwrapped[key.id] = key } }

    /// Forgets everything: the next use reads the catalog (after this gateway changed a key).
    func invalidate() {
        state.withLock { state in
            state.loaded = nil
            state.unwrapped = [:]
        }
    }
}
