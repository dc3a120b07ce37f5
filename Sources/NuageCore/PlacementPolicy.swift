/// The placement rules of a deployment: the erasure code, what is denied, what must be survived.
public struct PlacementPolicy: Hashable, Sendable {
    /// `k`: shards needed to rebuild an object.
    public var dataShards: Int
    /// `m`: extra shards; any `m` may be lost.
    public var parityShards: Int
    /// Country codes and preset names (see ``JurisdictionPreset``) no shard may touch,
    /// by location or by operator.
    public var deny: [String]
    /// How many whole jurisdictions may be lost (every provider located or operated there)
    /// while `k` shards remain.
    public var surviveJurisdictionLoss: Int
    /// Shard blobs that must be durable before a put commits.
    public var writeQuorum: Int

    public var totalShards: Int { dataShards + parityShards }

    /// Builds and validates a policy.
    /// - Throws: `NuageError.configuration` naming the bad value.
    public init(dataShards: Int = 4, parityShards: Int = 2, deny: [String] = ["us-icts"],
                surviveJurisdictionLoss: Int = 1, writeQuorum: Int? = nil) throws {
        guard (1...255).contains(dataShards) else {
            throw NuageError(.configuration, "data-shards must be between 1 and 255, not \(dataShards)")
        }
        guard parityShards >= 0, dataShards + parityShards <= 256 else {
            throw NuageError(.configuration, "parity-shards must be at least 0 with data-shards + parity-shards at most 256, not \(dataShards) + \(parityShards)")
        }
        guard surviveJurisdictionLoss >= 0 else {
            throw NuageError(.configuration, "survive-jurisdiction-loss must not be negative")
        }
        let quorum = writeQuorum ?? min(dataShards + 1, dataShards + parityShards)
        guard (dataShards...(dataShards + parityShards)).contains(quorum) else {
            throw NuageError(.configuration, "write-quorum must be between data-shards (\(dataShards)) and data-shards + parity-shards (\(dataShards + parityShards)), not \(quorum)")
        }
        self.dataShards = dataShards
        self.parityShards = parityShards
        self.deny = deny
        self.surviveJurisdictionLoss = surviveJurisdictionLoss
        self.writeQuorum = quorum
        _ = try deniedGroups()
    }

    /// The denied jurisdiction groups, presets expanded.
    /// - Throws: `NuageError.configuration` for an entry that is neither a code nor a preset.
    public func deniedGroups() throws -> Set<String> {
        var groups = Set<String>()
        for entry in deny {
            if let preset = JurisdictionPreset.all[entry.lowercased()] {
                for code in preset.codes { groups.insert(try Jurisdiction(code).group) }
            } else {
                do { groups.insert(try Jurisdiction(entry).group) } catch {
                    throw NuageError(.configuration, "deny entry '\(entry)' is neither a country code nor a preset (\(JurisdictionPreset.all.keys.sorted().joined(separator: ", ")))")
                }
            }
        }
        return groups
    }
}
