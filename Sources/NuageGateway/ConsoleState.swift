import Foundation
import NuageCore
import NuageEngine
import Synchronization

/// What the console shows, as its JSON API returns it (`GET /console/api/state`): providers
/// with their jurisdictions, health and read latency, what the catalog says they store, bytes
/// per jurisdiction, the policy and its checks, redundancy, repair and background work, and
/// the exposure figures. Catalog figures are refreshed every minute (they walk the catalog);
/// health is read at each request.
public struct ConsoleState: Codable, Sendable {
    public struct Provider: Codable, Sendable {
        public var name: String
        public var location: String
        public var operatorName: String
        public var operatorJurisdiction: String
        /// `healthy`, `degraded`, `down`, or `never contacted`.
        public var health: String
        /// The 90th percentile of recent reads, when known.
        public var readLatencyMs: Double?
        /// Why the policy excludes it (denied, draining), if it does.
        public var excluded: String?
        public var storedBytes: Int64
        public var blobs: Int
    }
    public struct Jurisdiction: Codable, Sendable {
        public var code: String
        public var bytes: Int64
        public var objects: Int
        public var objectsWithKShards: Int
        public var objectsLostWithIt: Int
    }
    public struct Check: Codable, Sendable {
        public var rule: String
        public var passed: Bool
        public var detail: String
    }
    public var generated: Date
    /// When the catalog figures were last read (nil: not yet).
    public var catalogRead: Date?
    public var providers: [Provider]
    public var jurisdictions: [Jurisdiction]
    public var policy: String
    public var checks: [Check]
    public var objects: Int
    public var objectsBelowFullRedundancy: Int
    public var shardsPendingRepair: Int
    public var garbageBlobs: Int
    public var shreddedObjects: Int
    /// Drains of providers marked draining, as their journals say.
    public var drains: [String]
    /// The last light and deep scrubs of this gateway, when they ran.
    public var scrubs: [String]
}

/// The catalog figures behind the console, refreshed by a job of the gateway.
final class ConsoleFigures: Sendable {
    struct Figures: Sendable {
        var read: Date
        var inventory: Engine.Inventory
        var exposure: Engine.ExposureReport
        var pendingRepair: Int
        var garbage: Int
    }
    private let figures = Mutex<Figures?>(nil)
    private let scrubs = Mutex<[String: String]>([:])

    /// Notes a scrub's outcome for the console.
    func noteScrub(_ report: Engine.ScrubReport, at date: Date) {
        let kind = report.deep ? "deep" : "light"
        let line = "\(kind) scrub \(ISO8601DateFormatter().string(from: date)): \(report.shards) shard(s) checked, "
            + "\(report.damaged.count) damaged (noted for repair)" + (report.unchecked.isEmpty ? "" : ", \(report.unchecked.count) not checked")
        scrubs.withLock { $0[kind] = line }
    }

    @discardableResult
    func refresh(_ engine: Engine) async throws -> Figures {
        let inventory = try await engine.inventory()
        let exposure = try await engine.exposure()
        let pending = try await engine.catalog.pendingRepairs(limit: 1_000_000).count
        let garbage = try await engine.catalog.garbage(limit: 1_000_000).count
        let fresh = Figures(read: Date(), inventory: inventory, exposure: exposure, pendingRepair: pending, garbage: garbage)
        figures.withLock { $0 = fresh }
        return fresh
    }

    /// Reads the catalog again when the figures are older than `age` (someone is watching):
    /// at most one catalog walk per `age` on top of the minute's.
    func refresh(_ engine: Engine, ifOlderThan age: TimeInterval) async throws {
        let read = figures.withLock { $0?.read }
        if let read, Date().timeIntervalSince(read) < age { return }
        try await refresh(engine)
    }

    func state(_ engine: Engine, data: String) -> ConsoleState {
        let figures = figures.withLock { $0 }
        let placement = engine.placement
        let providers = placement.providers.map { descriptor in
            let tracker = engine.health[descriptor.name]
            let usage = figures?.inventory.providers[descriptor.name]
            return ConsoleState.Provider(
                name: descriptor.name, location: descriptor.jurisdiction.code, operatorName: descriptor.operatorName,
                operatorJurisdiction: descriptor.operatorJurisdiction.code,
                health: engine.neverContacted.contains(descriptor.name) ? "never contacted" : tracker.map { "\($0.state)" } ?? "healthy",
                readLatencyMs: tracker?.readLatency.map { $0.inSeconds * 1000 },
                excluded: placement.exclusions[descriptor.name], storedBytes: usage?.bytes ?? 0, blobs: usage?.blobs ?? 0)
        }
        let jurisdictions = (figures?.exposure.jurisdictions ?? []).map {
            ConsoleState.Jurisdiction(code: $0.code, bytes: $0.bytes, objects: $0.objects, objectsWithKShards: $0.objectsWithKShards,
                                      objectsLostWithIt: $0.objectsLostWithIt)
        }
        let drains = placement.providers.filter(\.draining).map { provider in
            DrainJournal.load(data: data, provider: provider.name).map { "\(provider.name): \($0.shards) shard(s) moved, "
                + ($0.running ? "running" : $0.finished != nil ? "last run finished" : "interrupted") } ?? "\(provider.name): waiting for its first run"
        }
        return ConsoleState(
            generated: Date(), catalogRead: figures?.read, providers: providers, jurisdictions: jurisdictions,
            policy: figures?.exposure.policy ?? "k = \(placement.policy.dataShards), m = \(placement.policy.parityShards)",
            checks: placement.check().rules.map { ConsoleState.Check(rule: $0.name, passed: $0.passed, detail: $0.detail) },
            objects: figures?.inventory.objects ?? 0, objectsBelowFullRedundancy: figures?.inventory.objectsBelowFullRedundancy ?? 0,
            shardsPendingRepair: figures?.pendingRepair ?? 0, garbageBlobs: figures?.garbage ?? 0,
            shreddedObjects: figures?.exposure.shreddedObjects ?? 0, drains: drains,
            scrubs: scrubs.withLock { $0.sorted { $0.key > $1.key }.map(\.value) })
    }
}
