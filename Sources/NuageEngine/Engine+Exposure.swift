import Crypto
import Foundation
import NuageCatalog
import NuageCore

extension Engine {
    /// Which jurisdictions hold what, read from the catalog alone (no provider is contacted).
    public struct ExposureReport: Sendable, Codable {
        /// One jurisdiction (a country; HK and MO count as CN). A provider counts against both
        /// where it is and where its operator is.
        public struct Jurisdiction: Sendable, Codable, Hashable {
            public var code: String
            public var providers: [String] = []
            /// Objects with at least one shard here.
            public var objects = 0
            public var shards = 0
            public var bytes: Int64 = 0
            /// Objects of which it holds at least `k` shards of some part: it holds a readable
            /// copy, protected only by the encryption (crypto-shredded objects are not counted).
            public var objectsWithKShards = 0
            /// Crypto-shredded objects (their KMS key destroyed) with shards here still: ciphertext
            /// that nothing can open, until gc deletes it.
            public var shreddedObjects = 0
            /// Objects of which it holds more than `m` shards of some part: losing it loses them.
            public var objectsLostWithIt = 0
            /// Those objects, `bucket/key` (at most 100).
            public var lostWithIt: [String] = []
        }

        public struct WhatIf: Sendable, Codable {
            public var deny: [String]
            public var remove: [String]
            /// Providers that would stop taking shards (denied or removed).
            public var affectedProviders: [String]
            public var affectedObjects = 0
            /// Shards and their bytes that would have to move, from each affected provider.
            public var shardsToMove = 0
            public var bytesToMove: Int64 = 0
            public var from: [String: Int64] = [:]
            /// The providers that could take them.
            public var to: [String]
            /// Whether new objects could still be placed, and if not, why.
            public var placeable: Bool
            public var problems: [String]
        }

        public var generated: Date
        /// The policy the report was made under, and the sources of the deny presets it names.
        public var policy: String
        public var presets: [String: String]
        /// SHA-256 over every object version read (bucket, key, version id), in listing order.
        public var catalogDigest: String
        public var objects = 0
        public var jurisdictions: [Jurisdiction] = []
        /// Shards on providers the policy denies or that are draining, and the objects with any.
        public var shardsOnExcludedProviders = 0
        public var objectsOnExcludedProviders = 0
        /// Objects with a shard missing (never written, or on a provider no longer configured).
        public var objectsBelowFullRedundancy = 0
        /// Objects under a destroyed KMS key: unreadable by anyone, whatever copies providers
        /// keep (docs/SECURITY.md, crypto-shredding); `nuage gc` removes them and their shards.
        public var shreddedObjects = 0
        /// The bytes of their shards still at providers.
        public var shreddedBytes: Int64 = 0
        /// The destroyed KMS keys, by name.
        public var destroyedKMSKeys: [String] = []
        public var whatIf: WhatIf?
    }

    /// The exposure of every object per jurisdiction; with `deny` or `remove`, also what a ban of
    /// those jurisdictions or the loss of those providers would take. Changes nothing.
    public func exposure(whatIfDeny deny: [String] = [], whatIfRemove remove: [String] = []) async throws -> ExposureReport {
        let policy = placement.policy
        let descriptors = Dictionary(uniqueKeysWithValues: placement.providers.map { ($0.name, $0) })
        var report = ExposureReport(
            generated: Date(),
            policy: "k = \(policy.dataShards), m = \(policy.parityShards), deny = [\(policy.deny.joined(separator: ", "))], "
                + "survive-jurisdiction-loss = \(policy.surviveJurisdictionLoss)",
            presets: Dictionary(uniqueKeysWithValues: policy.deny.compactMap { name in JurisdictionPreset.all[name].map { (name, $0.source) } }),
            catalogDigest: "")
        var byCode: [String: ExposureReport.Jurisdiction] = [:]
        for descriptor in placement.providers {
            for code in descriptor.jurisdictionGroups { byCode[code, default: .init(code: code)].providers.append(descriptor.name) }
        }
        // The what-if: providers that a ban or a removal would take away.
        let hypotheticalDenied = try PlacementPolicy(dataShards: policy.dataShards, parityShards: policy.parityShards,
                                                     deny: deny, surviveJurisdictionLoss: 0).deniedGroups()
        let affected = Set(placement.providers.filter { !$0.jurisdictionGroups.isDisjoint(with: hypotheticalDenied) || remove.contains($0.name) }.map(\.name))
        var whatIf: ExposureReport.WhatIf?
        if !deny.isEmpty || !remove.isEmpty {
            var changed = policy
            changed.deny += deny
            let left = placement.providers.filter { !remove.contains($0.name) }
            let problems = (try? Placement(policy: changed, providers: left))?.check().failures ?? ["the deny list is not valid"]
            let takers = (try? Placement(policy: changed, providers: left))?.eligible.map(\.name) ?? []
            whatIf = .init(deny: deny, remove: remove, affectedProviders: affected.sorted(), to: takers.filter { !affected.contains($0) },
                           placeable: problems.isEmpty, problems: problems)
        }
        let destroyedKeys = try await catalog.kmsKeys().filter { $0.state == .destroyed }
        report.destroyedKMSKeys = destroyedKeys.map(\.name)
        let destroyed = Set(destroyedKeys.map(\.id))
        var digest = SHA256()
        // Every stored version: a noncurrent one exposes its bytes as much as a current one.
        try await forEachVersionPage { page in
            for record in page {
                report.objects += 1
                var touched: Set<String> = [], withK: Set<String> = [], lost: Set<String> = []
                var excluded = false, belowFull = false, affectedHere = false
                let shredded = record.parts.contains { $0.kmsKeyID.map(destroyed.contains) == true }
                if shredded { report.shreddedObjects += 1 }
                for manifest in record.parts {
                    digest.update(data: Data("\(record.bucket)\u{0}\(record.key)\u{0}".utf8) + Data(manifest.versionID))
                    let blobLength = ShardLayout(size: manifest.size, segmentSize: manifest.segmentSize,
                                                 dataShards: manifest.dataShards).blobLength
                    var held: [String: Int] = [:]
                    for ref in manifest.shards {
                        guard let ref, let descriptor = descriptors[ref.provider] else { belowFull = true; continue }
                        if shredded { report.shreddedBytes += blobLength }
                        if placement.exclusions[ref.provider] != nil { excluded = true; report.shardsOnExcludedProviders += 1 }
                        if affected.contains(ref.provider) {
                            affectedHere = true
                            whatIf?.shardsToMove += 1
                            whatIf?.bytesToMove += blobLength
                            whatIf?.from[ref.provider, default: 0] += blobLength
                        }
                        for code in descriptor.jurisdictionGroups {
                            held[code, default: 0] += 1
                            byCode[code, default: .init(code: code)].shards += 1
                            byCode[code, default: .init(code: code)].bytes += blobLength
                        }
                    }
                    for (code, count) in held {
                        touched.insert(code)
                        if count >= manifest.dataShards { withK.insert(code) }
                        if count > manifest.parityShards { lost.insert(code) }
                    }
                }
                for code in touched { byCode[code]?.objects += 1 }
                for code in withK where !shredded { byCode[code]?.objectsWithKShards += 1 }
                if shredded { for code in touched { byCode[code]?.shreddedObjects += 1 } }
                for code in lost {
                    byCode[code]?.objectsLostWithIt += 1
                    if (byCode[code]?.lostWithIt.count ?? 0) < 100 { byCode[code]?.lostWithIt.append("\(record.bucket)/\(record.key)") }
                }
                if excluded { report.objectsOnExcludedProviders += 1 }
                if belowFull { report.objectsBelowFullRedundancy += 1 }
                if affectedHere { whatIf?.affectedObjects += 1 }
            }
        }
        report.catalogDigest = digest.finalize().map { String(format: "%02x", $0) }.joined()
        report.jurisdictions = byCode.values.map { var j = $0; j.providers.sort(); return j }.sorted { $0.code < $1.code }
        report.whatIf = whatIf
        return report
    }
}
