import NuageCore

/// Chooses which providers hold an object's shards, and explains the policy.
///
/// Rules: shards go to `n` distinct providers; no provider whose location or operator is in a
/// denied jurisdiction; losing every provider located in or operated from any
/// `survive-jurisdiction-loss` jurisdictions leaves at least `k` shards (so each such set of
/// jurisdictions touches at most `m` shards). Among the placements that satisfy the rules, an
/// object gets the first one in its rendezvous order (providers ranked by a hash of the object's
/// version id and the provider name), which spreads objects evenly and is stable for an object.
public struct Placement: Sendable {
    public let policy: PlacementPolicy
    /// Every configured provider, in configuration order.
    public let providers: [ProviderDescriptor]
    /// Providers not excluded by the deny list.
    public let eligible: [ProviderDescriptor]
    /// Why each excluded provider is excluded.
    public let exclusions: [String: String]

    /// - Throws: `NuageError.configuration` for a bad deny entry or duplicate provider names.
    public init(policy: PlacementPolicy, providers: [ProviderDescriptor]) throws {
        self.policy = policy
        self.providers = providers
        guard Set(providers.map(\.name)).count == providers.count else {
            let names = providers.map(\.name)
            let twice = names.filter { name in names.filter { $0 == name }.count > 1 }
            throw NuageError(.configuration, "provider names must be unique: \(Array(Set(twice)).sorted().joined(separator: ", ")) is used more than once")
        }
        let denied = try policy.deniedGroups()
        var eligible: [ProviderDescriptor] = []
        var exclusions: [String: String] = [:]
        for provider in providers {
            if provider.draining {
                exclusions[provider.name] = "draining"
            } else if denied.contains(provider.jurisdiction.group) {
                exclusions[provider.name] = "located in denied jurisdiction \(provider.jurisdiction)"
            } else if denied.contains(provider.operatorJurisdiction.group) {
                exclusions[provider.name] = "operated from denied jurisdiction \(provider.operatorJurisdiction) (\(provider.operatorName))"
            } else {
                eligible.append(provider)
            }
        }
        self.eligible = eligible
        self.exclusions = exclusions
    }

    /// The providers for shards `0..<n` of the object version `versionID`.
    /// - Throws: `NuageError.policyUnsatisfiable` with the explanation of ``check()`` when no
    ///   placement satisfies the policy.
    public func choose(for versionID: [UInt8]) throws -> [ProviderDescriptor] {
        let ranked = eligible.sorted { Self.score(versionID, $0.name) > Self.score(versionID, $1.name) }
        if let found = search(ranked, size: policy.totalShards) { return found }
        let failures = check().failures
        throw NuageError(.policyUnsatisfiable, failures.isEmpty
            ? "no placement found for this object within the search budget (\(eligible.count) eligible providers)"
            : failures.joined(separator: "; "))
    }

    /// Whether shards on `selection` survive the loss of any `s` jurisdictions.
    public func survivesJurisdictionLoss(_ selection: [ProviderDescriptor]) -> Bool {
        worstLoss(selection).lost <= policy.parityShards
    }

    /// The set of `s` jurisdictions whose loss takes the most shards of `selection`, and how many.
    public func worstLoss(_ selection: [ProviderDescriptor]) -> (jurisdictions: [String], lost: Int) {
        let s = policy.surviveJurisdictionLoss
        let groups = Array(Set(selection.flatMap(\.jurisdictionGroups))).sorted()
        guard s > 0, !groups.isEmpty else { return ([], 0) }
        var worst: (jurisdictions: [String], lost: Int) = ([], 0)
        for combination in Self.combinations(of: groups, size: min(s, groups.count)) {
            let lost = selection.filter { !$0.jurisdictionGroups.isDisjoint(with: combination) }.count
            if lost > worst.lost { worst = (combination.sorted(), lost) }
        }
        return worst
    }

    // MARK: - Search

    /// Depth-first over `ranked` (in order) for `size` providers that satisfy the loss rule.
    /// Adding a provider never lowers a loss, so a violating prefix is pruned.
    private func search(_ ranked: [ProviderDescriptor], size: Int) -> [ProviderDescriptor]? {
        var best: [ProviderDescriptor]?
        _ = largestFeasible(ranked, size: size, stopAtFirst: true, found: &best)
        return best
    }

    /// The largest number of shards (up to `size`) the eligible providers can hold under the
    /// loss rule; `found` receives the first full placement when one exists.
    private func largestFeasible(_ ranked: [ProviderDescriptor], size: Int, stopAtFirst: Bool,
                                 found: inout [ProviderDescriptor]?) -> Int {
        var chosen: [ProviderDescriptor] = []
        var largest = 0
        var budget = 200_000
        func visit(_ start: Int) -> Bool {
            budget -= 1
            largest = max(largest, chosen.count)
            if chosen.count == size {
                found = chosen
                return true
            }
            guard budget > 0, ranked.count - start >= size - chosen.count || !stopAtFirst else { return false }
            for index in start..<ranked.count {
                chosen.append(ranked[index])
                if survivesJurisdictionLoss(chosen), visit(index + 1) { return true }
                chosen.removeLast()
                if budget <= 0 { return false }
            }
            return false
        }
        _ = visit(0)
        return largest
    }

    static func combinations(of items: [String], size: Int) -> [Set<String>] {
        guard size > 0 else { return [[]] }
        guard items.count >= size else { return [] }
        var result: [Set<String>] = []
        for (index, item) in items.enumerated() {
            for rest in combinations(of: Array(items[(index + 1)...]), size: size - 1) {
                result.append(rest.union([item]))
            }
        }
        return result
    }

    /// Rendezvous score of a provider for an object: FNV-1a over both, then a 64-bit mix.
    static func score(_ versionID: [UInt8], _ provider: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in versionID + [0] + Array(provider.utf8) {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash = hash &* 0xc4ce_b9fe_1a85_ec53
        return hash ^ (hash >> 33)
    }

    // MARK: - Explanation

    /// One rule of the policy, checked against the configured providers.
    public struct Rule: Sendable, Hashable {
        public var name: String
        public var passed: Bool
        public var detail: String
    }

    /// The verdict on every rule, each with its reason.
    public func check() -> (rules: [Rule], failures: [String]) {
        let k = policy.dataShards, m = policy.parityShards, n = policy.totalShards
        var rules: [Rule] = []
        let excluded = providers.filter { exclusions[$0.name] != nil }
            .map { "\($0.name) (\(exclusions[$0.name]!))" }
        rules.append(Rule(name: "deny", passed: true,
                          detail: "denied: \(policy.deny.joined(separator: ", ")); " +
                              (excluded.isEmpty ? "no provider excluded" : "excluded: \(excluded.joined(separator: ", "))")))
        rules.append(Rule(name: "distinct-providers", passed: eligible.count >= n,
                          detail: "\(n) shards (k = \(k), m = \(m)) need \(n) distinct eligible providers; \(eligible.count) eligible: \(eligible.map(\.name).joined(separator: ", "))"))
        let s = policy.surviveJurisdictionLoss
        var found: [ProviderDescriptor]?
        let largest = largestFeasible(eligible.sorted { $0.name < $1.name }, size: n, stopAtFirst: false, found: &found)
        let perJurisdiction = Dictionary(grouping: eligible.flatMap { p in p.jurisdictionGroups.map { ($0, p.name) } }, by: \.0)
            .sorted { $0.key < $1.key }
            .map { "\($0.key): \($0.value.count)" }
            .joined(separator: ", ")
        if s == 0 {
            rules.append(Rule(name: "survive-jurisdiction-loss", passed: true, detail: "0: no jurisdiction loss required"))
        } else if found != nil {
            rules.append(Rule(name: "survive-jurisdiction-loss", passed: true,
                              detail: "\(s): every set of \(s) jurisdiction(s) touches at most m = \(m) shards in a feasible placement (eligible providers per jurisdiction, by location or operator: \(perJurisdiction))"))
        } else {
            rules.append(Rule(name: "survive-jurisdiction-loss", passed: false,
                              detail: "\(s): losing any \(s) jurisdiction(s) may take at most m = \(m) shards, so at most \(largest) of the \(n) shards can be placed (eligible providers per jurisdiction, by location or operator: \(perJurisdiction)); add providers in other jurisdictions, raise parity-shards or lower data-shards"))
        }
        rules.append(Rule(name: "write-quorum", passed: true,
                          detail: "\(policy.writeQuorum) of \(n) shard blobs durable before a put commits (between k = \(k) and n = \(n))"))
        return (rules, rules.filter { !$0.passed }.map { "\($0.name) fails: \($0.detail)" })
    }
}
