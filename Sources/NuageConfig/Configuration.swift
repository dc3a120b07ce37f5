import NuageCore

/// The contents of `nuage.toml`: the placement policy, storage settings and providers.
public struct Configuration: Sendable {
    /// A configured provider: what placement knows, plus where it stores.
    public struct ProviderConfig: Sendable {
        public var descriptor: ProviderDescriptor
        /// For `kind = "directory"`: the directory, relative to the data directory unless absolute.
        public var path: String
    }

    public var policy: PlacementPolicy
    /// Plaintext bytes per sealed segment (`[storage] segment-size`).
    public var segmentSize: Int
    public var providers: [ProviderConfig]
    /// `[server]`: how `nuage serve` answers.
    public var server = Server()

    public struct Server: Sendable {
        /// `domain`: enables virtual-hosted style requests (`BUCKET.domain`).
        public var domain: String?
        /// `max-in-flight`: requests handled at once; more get `503 SlowDown`.
        public var maxInFlight = 64
        /// `multipart-expiry-hours`: multipart uploads not completed within this are aborted.
        public var multipartExpiryHours = 7 * 24
    }

    public static let defaultSegmentSize = 1 << 20

    /// Parses and checks a configuration; unknown keys are errors, so typos do not pass silently.
    /// - Throws: `NuageError.configuration` naming the key or line at fault.
    public init(toml text: String) throws {
        let root = try TOML.parse(text)
        try Self.allowOnly(root, ["policy", "storage", "provider", "server"], in: "the top level")
        let serverTable = try Self.table(root["server"], "server") ?? [:]
        try Self.allowOnly(serverTable, ["domain", "max-in-flight", "multipart-expiry-hours"], in: "[server]")
        server.domain = try Self.string(serverTable, "domain", in: "server")
        server.maxInFlight = try Self.integer(serverTable, "max-in-flight", in: "server") ?? server.maxInFlight
        server.multipartExpiryHours = try Self.integer(serverTable, "multipart-expiry-hours", in: "server") ?? server.multipartExpiryHours
        guard server.maxInFlight > 0 else { throw NuageError(.configuration, "server.max-in-flight must be positive") }
        guard server.multipartExpiryHours > 0 else { throw NuageError(.configuration, "server.multipart-expiry-hours must be positive") }

        let policyTable = try Self.table(root["policy"], "policy") ?? [:]
        try Self.allowOnly(policyTable, ["data-shards", "parity-shards", "deny", "survive-jurisdiction-loss", "write-quorum"], in: "[policy]")
        policy = try PlacementPolicy(
            dataShards: try Self.integer(policyTable, "data-shards", in: "policy") ?? 4,
            parityShards: try Self.integer(policyTable, "parity-shards", in: "policy") ?? 2,
            deny: try Self.strings(policyTable, "deny", in: "policy") ?? ["us-icts"],
            surviveJurisdictionLoss: try Self.integer(policyTable, "survive-jurisdiction-loss", in: "policy") ?? 1,
            writeQuorum: try Self.integer(policyTable, "write-quorum", in: "policy"))

        let storage = try Self.table(root["storage"], "storage") ?? [:]
        try Self.allowOnly(storage, ["segment-size"], in: "[storage]")
        segmentSize = try Self.integer(storage, "segment-size", in: "storage") ?? Self.defaultSegmentSize

        guard case .tableArray(let entries)? = root["provider"] ?? .tableArray([]) else {
            throw NuageError(.configuration, "'provider' must be an array of tables ([[provider]])")
        }
        providers = try entries.enumerated().map { index, entry in
            let place = "[[provider]] #\(index + 1)"
            try Self.allowOnly(entry, ["name", "kind", "path", "jurisdiction", "operator", "operator-jurisdiction"], in: place)
            func required(_ key: String) throws -> String {
                guard let value = try Self.string(entry, key, in: place) else {
                    throw NuageError(.configuration, "\(place) needs '\(key)'")
                }
                return value
            }
            let name = try required("name")
            let kind = try required("kind")
            guard kind == "directory" else {
                throw NuageError(.configuration, "provider \(name): kind '\(kind)' is not supported (supported: directory)")
            }
            // Who controls a provider matters as much as where it is: both are required, so that
            // a US company's Frankfurt region is never counted as German only by omission.
            let descriptor = ProviderDescriptor(
                name: name, kind: kind, jurisdiction: try Jurisdiction(try required("jurisdiction")),
                operatorName: try required("operator"),
                operatorJurisdiction: try Jurisdiction(try required("operator-jurisdiction")))
            return ProviderConfig(descriptor: descriptor, path: try required("path"))
        }
        guard !providers.isEmpty else { throw NuageError(.configuration, "no [[provider]] is configured") }
    }

    /// The embedded default written by `nuage init`: seven local directories standing for
    /// providers in seven countries, one of them (CN) denied by `us-icts`.
    public static let demo: String = {
        let providers: [(String, String, String)] = [
            ("us-east", "US", "Demo Storage Inc."), ("ca-central", "CA", "Demo Storage Canada Ltd."),
            ("eu-frankfurt", "DE", "Demo Storage GmbH"), ("eu-paris", "FR", "Demo Stockage SAS"),
            ("ch-zurich", "CH", "Demo Speicher AG"), ("jp-tokyo", "JP", "Demo Storage KK"),
            ("cn-hangzhou", "CN", "Demo Cloud Co., Ltd."),
        ]
        var text = """
            # Nuage configuration. Each provider is one place that stores shard blobs; placement
            # keeps every object readable after the loss of any one jurisdiction and never uses
            # a provider located in, or operated from, a denied jurisdiction.

            [policy]
            data-shards = 4                # k: shards needed to read an object
            parity-shards = 2              # m: shards that may be lost
            deny = ["us-icts"]             # 15 CFR 791.4 foreign adversaries: CN HK MO CU IR KP RU VE
            survive-jurisdiction-loss = 1  # lose every provider of any one country, lose nothing
            # write-quorum = 5             # default k + 1

            [storage]
            segment-size = 1048576         # plaintext bytes per sealed segment

            [server]
            # domain = "s3.example.com"    # also accept virtual-hosted style, BUCKET.s3.example.com
            max-in-flight = 64             # requests at once; more get 503 SlowDown
            multipart-expiry-hours = 168   # abort multipart uploads not completed within a week

            """
        for (name, country, company) in providers {
            text += """

                [[provider]]
                name = "\(name)"
                kind = "directory"
                path = "providers/\(name)"
                jurisdiction = "\(country)"
                operator = "\(company)"
                operator-jurisdiction = "\(country)"

                """
        }
        return text
    }()

    // MARK: - Typed access

    private static func allowOnly(_ table: [String: TOMLValue], _ keys: Set<String>, in place: String) throws {
        if let unknown = table.keys.sorted().first(where: { !keys.contains($0) }) {
            throw NuageError(.configuration, "unknown key '\(unknown)' in \(place) (known: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    private static func table(_ value: TOMLValue?, _ name: String) throws -> [String: TOMLValue]? {
        switch value {
        case nil: return nil
        case .table(let table): return table
        default: throw NuageError(.configuration, "'\(name)' must be a table ([\(name)])")
        }
    }

    private static func integer(_ table: [String: TOMLValue], _ key: String, in place: String) throws -> Int? {
        switch table[key] {
        case nil: return nil
        case .integer(let value): return value
        default: throw NuageError(.configuration, "\(place).\(key) must be an integer")
        }
    }

    private static func string(_ table: [String: TOMLValue], _ key: String, in place: String) throws -> String? {
        switch table[key] {
        case nil: return nil
        case .string(let value): return value
        default: throw NuageError(.configuration, "\(place).\(key) must be a string")
        }
    }

    private static func strings(_ table: [String: TOMLValue], _ key: String, in place: String) throws -> [String]? {
        switch table[key] {
        case nil: return nil
        case .array(let items):
            return try items.map {
                guard case .string(let s) = $0 else { throw NuageError(.configuration, "\(place).\(key) must be a list of strings") }
                return s
            }
        default: throw NuageError(.configuration, "\(place).\(key) must be a list of strings")
        }
    }
}
