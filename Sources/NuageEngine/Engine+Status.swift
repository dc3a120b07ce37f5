import NuageCatalog
import NuageCore
import Foundation
import NuageProviders

extension Engine {
    /// Health of one shard blob.
    public enum ShardHealth: Sendable, Hashable, CustomStringConvertible {
        case healthy
        /// Never written (the put committed with the quorum without it).
        case notWritten
        case missing
        /// Present with the wrong size.
        case wrongSize(Int64)
        /// The provider could not be asked.
        case unreachable(String)

        public var description: String {
            switch self {
            case .healthy: "healthy"
            case .notWritten: "not written (pending repair)"
            case .missing: "missing"
            case .wrongSize(let size): "wrong size (\(size) bytes)"
            case .unreachable(let why): "unreachable: \(why)"
            }
        }
    }

    /// Where each shard of an object is and how it is doing, and whether its placement meets
    /// the current policy.
    public struct ObjectStatus: Sendable {
        public struct Shard: Sendable {
            /// The part (0 for an object stored by one put) and the shard's index within it.
            public var part: Int
            public var index: Int
            public var provider: ProviderDescriptor?
            public var providerName: String?
            public var health: ShardHealth
            /// Why no new shard goes to its provider (denied by the policy, draining, no longer
            /// configured): a shard here is due to be drained. Nil for an eligible provider.
            public var placementNote: String?
        }
        public var record: ObjectRecord
        public var shards: [Shard]
        /// Rule name and whether this object's placement passes it (for every part), with the reason.
        public var verdict: [Placement.Rule]
        /// When a scrub last checked every shard of this version (nil: not yet).
        public var scrubbed: ScrubTimes?
    }

    /// Checks every shard blob of an object (a `head` per provider, all at once, each given at
    /// most `budget`: a provider that does not answer is reported, not waited for) and the
    /// placement rules.
    public func status(bucket: String, key: String, budget: Duration = .seconds(2)) async throws -> ObjectStatus {
        let record = try await head(bucket: bucket, key: key)
        let descriptors = Dictionary(uniqueKeysWithValues: placement.providers.map { ($0.name, $0) })
        var shards: [ObjectStatus.Shard] = []
        for (part, manifest) in record.parts.enumerated() {
            let layout = ShardLayout(size: manifest.size, segmentSize: manifest.segmentSize, dataShards: manifest.dataShards)
            let healths = try await withThrowingTaskGroup(of: (Int, ShardHealth).self) { group in
                for (index, ref) in manifest.shards.enumerated() {
                    guard let ref else { continue }
                    guard !neverContacted.contains(ref.provider) else {
                        group.addTask { (index, .unreachable("not contacted: read = \"never\"")) }
                        continue
                    }
                    guard let provider = providers[ref.provider] else {
                        group.addTask { (index, .unreachable("not configured")) }
                        continue
                    }
                    group.addTask {
                        do {
                            let info = try await withDeadline(budget, onTimeout: {
                                ProviderError.timeout(provider: ref.provider, "head \(ref.blob): no answer within \(budget)")
                            }) { try await provider.head(ref.blob) }
                            return (index, ref.holds(layout.blobLength, inBlobOf: info.size) ? .healthy : .wrongSize(info.size))
                        } catch let error as ProviderError where error.kind == .notFound {
                            return (index, .missing)
                        } catch {
                            return (index, .unreachable("\(error)"))
                        }
                    }
                }
                var healths: [Int: ShardHealth] = [:]
                for try await (index, health) in group { healths[index] = health }
                return healths
            }
            for (index, ref) in manifest.shards.enumerated() {
                let note = ref.flatMap { ref in
                    descriptors[ref.provider] == nil ? "no longer configured: drain it by name" : placement.exclusions[ref.provider]
                }
                shards.append(.init(part: part, index: index, provider: ref.flatMap { descriptors[$0.provider] }, providerName: ref?.provider,
                                    health: healths[index] ?? .notWritten, placementNote: note))
            }
        }
        // A rule passes when it passes for every part; otherwise the first failing part explains.
        let verdicts = record.parts.map(verdict(for:))
        let merged = verdicts[0].indices.map { rule in
            let failing = verdicts.indices.first { !verdicts[$0][rule].passed }
            guard let failing else { return verdicts[0][rule] }
            var failed = verdicts[failing][rule]
            if verdicts.count > 1 { failed.detail = "part \(failing + 1): " + failed.detail }
            return failed
        }
        return ObjectStatus(record: record, shards: shards, verdict: merged,
                            scrubbed: try await catalog.lastScrub(bucket: bucket, key: key))
    }

    /// This object's placement against the current policy.
    func verdict(for manifest: Manifest) -> [Placement.Rule] {
        let names = manifest.blobs.map(\.provider)
        let held = placement.providers.filter { names.contains($0.name) }
        var rules: [Placement.Rule] = []
        let denied = held.filter { placement.exclusions[$0.name] != nil }
        rules.append(Placement.Rule(name: "deny", passed: denied.isEmpty,
                                    detail: denied.isEmpty ? "no shard on a denied provider"
                                        : "shards on " + denied.map { "\($0.name) (\(placement.exclusions[$0.name]!))" }.joined(separator: ", ")))
        let distinct = Set(names).count == names.count
        rules.append(Placement.Rule(name: "distinct-providers", passed: distinct && names.count == manifest.shards.count,
                                    detail: "\(Set(names).count) distinct providers hold \(names.count) of \(manifest.shards.count) shards"))
        let worst = placement.worstLoss(held)
        let remaining = names.count - worst.lost
        rules.append(Placement.Rule(name: "survive-jurisdiction-loss",
                                    passed: remaining >= manifest.dataShards,
                                    detail: worst.jurisdictions.isEmpty ? "no jurisdiction loss required"
                                        : "losing \(worst.jurisdictions.joined(separator: "+")) takes \(worst.lost) shard(s), leaving \(remaining) (\(manifest.dataShards) needed)"))
        return rules
    }

    /// One configured provider with its placement state and usage.
    public struct ProviderStatus: Sendable {
        public var descriptor: ProviderDescriptor
        /// `active`, or why the policy excludes it.
        public var state: String
        /// Bytes in its blobs, or nil when it could not be listed.
        public var bytesStored: Int64?
        public var blobs: Int?
    }

    /// Every configured provider, its state and what it stores (all listed at once: one that
    /// does not answer costs its answer timeout, not the sum of them).
    public func providerStatus() async -> [ProviderStatus] {
        let listings = await withTaskGroup(of: (String, [BlobInfo]?).self) { group in
            for descriptor in placement.providers where !neverContacted.contains(descriptor.name) {
                guard let provider = providers[descriptor.name] else { continue }
                group.addTask { (descriptor.name, try? await provider.listAll()) }
            }
            var listings: [String: [BlobInfo]] = [:]
            for await (name, blobs) in group { listings[name] = blobs }
            return listings
        }
        return placement.providers.map { descriptor in
            let state = placement.exclusions[descriptor.name].map { "excluded by policy: \($0)" } ?? "active"
            let blobs = listings[descriptor.name]
            return ProviderStatus(descriptor: descriptor, state: state,
                                  bytesStored: blobs.map { $0.reduce(0) { $0 + $1.size } }, blobs: blobs?.count)
        }
    }
}

extension Engine {
    /// A provider the catalog still references that `nuage.toml` no longer configures.
    public struct UnconfiguredProvider: Sendable, Hashable {
        public var name: String
        /// Object versions (parts count one each) and multipart-upload parts with a shard on it.
        public var versions: Int
        /// One of the objects, `bucket/key`.
        public var example: String
    }

    /// Providers that shards in the catalog name but that are not configured (removed from
    /// `nuage.toml`): their shards are read from the others, and `drain` by name moves them.
    public func unconfiguredProviders() async throws -> [UnconfiguredProvider] {
        let configured = Set(placement.providers.map(\.name))
        var found: [String: UnconfiguredProvider] = [:]
        func note(_ manifest: Manifest, _ object: String) {
            for provider in Set(manifest.blobs.map(\.provider)) where !configured.contains(provider) {
                found[provider, default: UnconfiguredProvider(name: provider, versions: 0, example: object)].versions += 1
            }
        }
        try await forEachVersionPage { page in
            for record in page { for manifest in record.parts { note(manifest, "\(record.bucket)/\(record.key)") } }
        }
        try await forEachUploadedPart { upload, part in note(part.manifest, "\(upload.bucket)/\(upload.key)") }
        return found.values.sorted { $0.name < $1.name }
    }

    /// Each tracked provider's health, after probing those marked down (a cheap listing
    /// through the resilience stack; a probe is only sent once its backoff has passed).
    @discardableResult
    public func probeProviders() async -> [String: HealthTracker.State] {
        await withTaskGroup(of: Void.self) { group in
            for (name, tracker) in health where tracker.state == .down && !neverContacted.contains(name) {
                guard let provider = providers[name] else { continue }
                group.addTask { _ = try? await provider.list(prefix: "", after: nil, limit: 1) }
            }
        }
        return health.mapValues(\.state)
    }
}
