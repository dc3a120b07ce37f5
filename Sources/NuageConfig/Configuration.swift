import NuageCore
import NuageCrypto
import NuageEngine
import NuagePKCS11

/// The contents of `nuage.toml`: the placement policy, storage settings and providers.
public struct Configuration: Sendable {
    /// A configured provider: what placement knows, plus where it stores.
    public struct ProviderConfig: Sendable {
        public var descriptor: ProviderDescriptor
        public var storage: Storage
        /// `read = "never"`: the provider is never contacted (a provider that must not be, such
        /// as one banned outright); its shards are read from the others. Default `"allowed"`: a
        /// provider the policy denies gets no new shards and is read only as a last resort.
        public var neverRead = false
    }

    public enum Storage: Sendable, Hashable {
        public var isS3: Bool { if case .s3 = self { true } else { false } }

        /// `kind = "directory"`: the directory, relative to the data directory unless absolute.
        case directory(path: String)
        /// `kind = "s3"`: a bucket of an S3-compatible service.
        case s3(S3Settings)
    }

    /// Where an S3-compatible provider stores and how to reach it. Credentials are never in the
    /// file: it names the environment variables (or a credentials file) that hold them.
    public struct S3Settings: Sendable, Hashable {
        public var endpoint: String
        public var bucket: String
        public var region = "us-east-1"
        /// Environment variables holding the access key id and the secret.
        public var accessKeyEnv: String?
        public var secretKeyEnv: String?
        /// An AWS-style credentials file (`aws_access_key_id`, `aws_secret_access_key` under `[profile]`).
        public var credentialsFile: String?
        public var profile = "default"
        /// `path` (`host/bucket/key`) or `virtual` (`bucket.host/key`).
        public var addressing = "path"
        /// Prepended to blob names within the bucket.
        public var prefix = ""
        /// PEM file of the certificate authorities to trust instead of the system's.
        public var caFile: String?
    }

    public var policy: PlacementPolicy
    /// Plaintext bytes per sealed segment (`[storage] segment-size`).
    public var segmentSize: Int
    /// Objects put whole of at most this many bytes are written in packs (`[storage] pack-limit`; 0: none).
    public var packLimit = Self.defaultPackLimit
    /// Seconds the blobs of a replaced or deleted version are kept before they are deleted
    /// (`[storage] delete-delay`), so that reads that started before the change finish.
    public var deleteDelaySeconds = 3600
    /// Shard bytes per second at most that `nuage serve` writes when it drains a provider in
    /// the background (`[storage] drain-rate`, in MB/s).
    public var drainRateMB = 50
    /// Versions a drain moves at once (`[storage] drain-parallel`).
    public var drainParallel = 2
    /// `[audit] reads = true`: the audit log records reads (GET, HEAD, listings) too.
    public var auditReads = false
    public var providers: [ProviderConfig]
    /// `[server]`: how `nuage serve` answers.
    public var server = Server()
    /// `[master-key]`: where the master key lives.
    public var masterKey = MasterKeySource.file
    /// `[catalog]`: the embedded SQLite file (the default) or a PostgreSQL database that several
    /// gateways share.
    public var catalog = CatalogSource.sqlite

    public enum CatalogSource: Sendable, Equatable {
        /// `catalog.sqlite` in the data directory.
        case sqlite
        /// `url = "postgres://USER@HOST:PORT/DB"`, the password from the variable `password-env`
        /// names or from a `.pgpass`-style `password-file` (or none: trust or peer authentication).
        case postgres(url: String, passwordEnv: String?, passwordFile: String?)
    }

    /// `kind = "file"`: `master.key` beside the catalog (the default); `kind = "pkcs11"`: a
    /// non-extractable key in a token.
    public enum MasterKeySource: Sendable, Equatable {
        case file
        case pkcs11(PKCS11Settings)
    }

    /// `[master-key] kind = "pkcs11"`.
    public struct PKCS11Settings: Sendable, Equatable {
        /// `module`: the PKCS#11 library's path.
        public var module: String
        /// `uri`: `pkcs11:token=LABEL;object=LABEL` (RFC 7512).
        public var uri: PKCS11URI
        /// `pin-env`: the environment variable that holds the user PIN.
        public var pinEnv: String?
        /// `pin-file`: a file (mode 0600) that holds it, relative to the data directory unless absolute.
        public var pinFile: String?
        /// `cache-size`: unwrapped data keys kept (0: every unwrap is a token call).
        public var cacheSize = UnwrappedKeyCache.Limits.default.count
        /// `cache-seconds`: how long an unwrapped key is kept.
        public var cacheSeconds = 300

        public init(module: String, uri: PKCS11URI, pinEnv: String? = nil, pinFile: String? = nil) {
            self.module = module
            self.uri = uri
            self.pinEnv = pinEnv
            self.pinFile = pinFile
        }
    }

    public struct Server: Sendable {
        /// `domain`: enables virtual-hosted style requests (`BUCKET.domain`).
        public var domain: String?
        /// `max-in-flight`: requests handled at once; more get `503 SlowDown`.
        public var maxInFlight = 64
        /// `max-in-flight-per-key`: of those, requests one access key may have at once (default:
        /// half), so that one key cannot take every slot.
        public var maxInFlightPerKey: Int?
        /// `body-min-rate`: bytes per second a request body must average while the gateway waits
        /// for it, after `body-grace-seconds` of slack; slower bodies are cut (400 RequestTimeout).
        public var bodyMinimumRate = 1024
        public var bodyGraceSeconds = 20
        /// `multipart-expiry-hours`: multipart uploads not completed within this are aborted.
        public var multipartExpiryHours = 7 * 24
        /// `region`: the region signatures must be scoped to, and GetBucketLocation's answer.
        public var region = "us-east-1"
        /// `allow-sse-c-over-http`: accept customer keys (SSE-C) over plain HTTP from other
        /// machines. AWS refuses them (the key would cross the network in clear), and so does Nuage
        /// by default; loopback and HTTPS are always allowed. For tests behind a TLS proxy.
        public var allowCustomerKeysOverHTTP = false
        /// `allow-public-buckets`: bucket policies may grant access to everyone (`Principal "*"`),
        /// anonymous requests included. Off by default, like AWS's Block Public Access: such
        /// policies are refused, and anonymous requests too.
        public var allowPublicBuckets = false
        /// `[testing] lifecycle-day-seconds`: the length of a lifecycle day. A test setting, so
        /// that tests see lifecycle rules expire objects in seconds; never shorten it in service.
        public var lifecycleDaySeconds = 86_400
    }

    public static let defaultSegmentSize = 1 << 20
    public static let defaultPackLimit = 256 << 10

    /// Parses and checks a configuration; unknown keys are errors, so typos do not pass silently.
    /// - Throws: `NuageError.configuration` naming the key or line at fault.
    public init(toml text: String) throws {
        let root = try TOML.parse(text)
        try Self.allowOnly(root, ["policy", "storage", "provider", "server", "audit", "master-key", "catalog", "testing"], in: "the top level")
        catalog = try Self.catalogSource(try Self.table(root["catalog"], "catalog") ?? [:])
        let testing = try Self.table(root["testing"], "testing") ?? [:]
        try Self.allowOnly(testing, ["lifecycle-day-seconds"], in: "[testing]")
        if let seconds = try Self.integer(testing, "lifecycle-day-seconds", in: "testing") {
            guard (1...86_400).contains(seconds) else { throw NuageError(.configuration, "[testing] lifecycle-day-seconds must be between 1 and 86400") }
            server.lifecycleDaySeconds = seconds
        }
        masterKey = try Self.masterKeySource(try Self.table(root["master-key"], "master-key") ?? [:])
        let serverTable = try Self.table(root["server"], "server") ?? [:]
        try Self.allowOnly(serverTable, ["domain", "max-in-flight", "max-in-flight-per-key", "body-min-rate", "body-grace-seconds",
                                          "multipart-expiry-hours", "region", "allow-sse-c-over-http", "allow-public-buckets"], in: "[server]")
        server.domain = try Self.string(serverTable, "domain", in: "server")
        server.maxInFlight = try Self.integer(serverTable, "max-in-flight", in: "server") ?? server.maxInFlight
        server.maxInFlightPerKey = try Self.integer(serverTable, "max-in-flight-per-key", in: "server")
        server.bodyMinimumRate = try Self.integer(serverTable, "body-min-rate", in: "server") ?? server.bodyMinimumRate
        server.bodyGraceSeconds = try Self.integer(serverTable, "body-grace-seconds", in: "server") ?? server.bodyGraceSeconds
        server.multipartExpiryHours = try Self.integer(serverTable, "multipart-expiry-hours", in: "server") ?? server.multipartExpiryHours
        server.region = try Self.string(serverTable, "region", in: "server") ?? server.region
        switch serverTable["allow-sse-c-over-http"] {
        case nil: break
        case .bool(let value): server.allowCustomerKeysOverHTTP = value
        default: throw NuageError(.configuration, "[server] allow-sse-c-over-http must be true or false")
        }
        switch serverTable["allow-public-buckets"] {
        case nil: break
        case .bool(let value): server.allowPublicBuckets = value
        default: throw NuageError(.configuration, "[server] allow-public-buckets must be true or false")
        }
        guard !server.region.isEmpty, server.region.count <= 32,
              server.region.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw NuageError(.configuration, "server.region must be 1 to 32 lower-case letters, digits and '-' (like us-east-1), not '\(server.region)'")
        }
        guard server.maxInFlight > 0 else { throw NuageError(.configuration, "server.max-in-flight must be positive") }
        if let perKey = server.maxInFlightPerKey, !(1...server.maxInFlight).contains(perKey) {
            throw NuageError(.configuration, "server.max-in-flight-per-key must be between 1 and max-in-flight (\(server.maxInFlight))")
        }
        guard server.bodyMinimumRate > 0 else { throw NuageError(.configuration, "server.body-min-rate must be positive (bytes per second)") }
        guard (1...3600).contains(server.bodyGraceSeconds) else {
            throw NuageError(.configuration, "server.body-grace-seconds must be between 1 and 3600")
        }
        guard server.multipartExpiryHours > 0 else { throw NuageError(.configuration, "server.multipart-expiry-hours must be positive") }

        let policyTable = try Self.table(root["policy"], "policy") ?? [:]
        try Self.allowOnly(policyTable, ["data-shards", "parity-shards", "deny", "survive-jurisdiction-loss", "write-quorum"], in: "[policy]")
        policy = try PlacementPolicy(
            dataShards: try Self.integer(policyTable, "data-shards", in: "policy") ?? 4,
            parityShards: try Self.integer(policyTable, "parity-shards", in: "policy") ?? 2,
            deny: try Self.strings(policyTable, "deny", in: "policy") ?? ["us-icts"],
            surviveJurisdictionLoss: try Self.integer(policyTable, "survive-jurisdiction-loss", in: "policy") ?? 1,
            writeQuorum: try Self.integer(policyTable, "write-quorum", in: "policy"))

        let audit = try Self.table(root["audit"], "audit") ?? [:]
        try Self.allowOnly(audit, ["reads"], in: "[audit]")
        switch audit["reads"] {
        case nil: break
        case .bool(let value): auditReads = value
        default: throw NuageError(.configuration, "[audit] reads must be true or false")
        }

        let storage = try Self.table(root["storage"], "storage") ?? [:]
        try Self.allowOnly(storage, ["segment-size", "pack-limit", "delete-delay", "drain-rate", "drain-parallel"], in: "[storage]")
        drainRateMB = try Self.integer(storage, "drain-rate", in: "storage") ?? drainRateMB
        guard (1...100_000).contains(drainRateMB) else {
            throw NuageError(.configuration, "[storage] drain-rate must be between 1 and 100000 MB/s, not \(drainRateMB)")
        }
        drainParallel = try Self.integer(storage, "drain-parallel", in: "storage") ?? drainParallel
        guard (1...64).contains(drainParallel) else {
            throw NuageError(.configuration, "[storage] drain-parallel must be between 1 and 64, not \(drainParallel)")
        }
        deleteDelaySeconds = try Self.integer(storage, "delete-delay", in: "storage") ?? deleteDelaySeconds
        guard (0...30 * 86_400).contains(deleteDelaySeconds) else {
            throw NuageError(.configuration, "[storage] delete-delay must be between 0 and 2592000 seconds (30 days), not \(deleteDelaySeconds)")
        }
        segmentSize = try Self.integer(storage, "segment-size", in: "storage") ?? Self.defaultSegmentSize
        guard Manifest.segmentSizes.contains(segmentSize) else {
            throw NuageError(.configuration, "[storage] segment-size must be between 4096 (4 KiB) and 67108864 (64 MiB), not \(segmentSize)")
        }
        packLimit = try Self.integer(storage, "pack-limit", in: "storage") ?? packLimit
        guard Engine.packLimits.contains(packLimit) else {
            throw NuageError(.configuration, "[storage] pack-limit must be between 0 (no packs) and 16777216 (16 MiB), not \(packLimit)")
        }

        guard case .tableArray(let entries)? = root["provider"] ?? .tableArray([]) else {
            throw NuageError(.configuration, "'provider' must be an array of tables ([[provider]])")
        }
        providers = try entries.enumerated().map { index, entry in
            let place = "[[provider]] #\(index + 1)"
            func required(_ key: String) throws -> String {
                guard let value = try Self.string(entry, key, in: place) else {
                    throw NuageError(.configuration, "\(place) needs '\(key)'")
                }
                return value
            }
            let common: Set<String> = ["name", "kind", "jurisdiction", "operator", "operator-jurisdiction", "read", "state"]
            let name = try required("name")
            let kind = try required("kind")
            let storage: Storage
            switch kind {
            case "directory":
                try Self.allowOnly(entry, common.union(["path"]), in: place)
                storage = .directory(path: try required("path"))
            case "s3":
                let keys: Set<String> = ["endpoint", "bucket", "region", "access-key-env", "secret-key-env", "credentials-file",
                                         "profile", "addressing", "prefix", "ca-file"]
                try Self.allowOnly(entry, common.union(keys), in: place)
                var settings = S3Settings(endpoint: try required("endpoint"), bucket: try required("bucket"))
                func optional(_ key: String) throws -> String? { try Self.string(entry, key, in: place) }
                settings.region = try optional("region") ?? settings.region
                settings.accessKeyEnv = try optional("access-key-env")
                settings.secretKeyEnv = try optional("secret-key-env")
                settings.credentialsFile = try optional("credentials-file")
                settings.profile = try optional("profile") ?? settings.profile
                settings.addressing = try optional("addressing") ?? settings.addressing
                settings.prefix = try optional("prefix") ?? settings.prefix
                settings.caFile = try optional("ca-file")
                guard ["path", "virtual"].contains(settings.addressing) else {
                    throw NuageError(.configuration, "provider \(name): addressing must be \"path\" or \"virtual\"")
                }
                guard (settings.accessKeyEnv != nil && settings.secretKeyEnv != nil) || settings.credentialsFile != nil else {
                    throw NuageError(.configuration, "provider \(name): give access-key-env and secret-key-env, or credentials-file")
                }
                storage = .s3(settings)
            default:
                throw NuageError(.configuration, "provider \(name): kind '\(kind)' is not supported (supported: directory, s3)")
            }
            // Who controls a provider matters as much as where it is: both are required, so that
            // a US company's Frankfurt region is never counted as German only by omission.
            let descriptor = ProviderDescriptor(
                name: name, kind: kind, jurisdiction: try Jurisdiction(try required("jurisdiction")),
                operatorName: try required("operator"),
                operatorJurisdiction: try Jurisdiction(try required("operator-jurisdiction")),
                draining: try Self.state(entry, name: name, in: place) == "draining")
            let read = try Self.string(entry, "read", in: place) ?? "allowed"
            guard ["allowed", "never"].contains(read) else {
                throw NuageError(.configuration, "provider \(name): read must be \"allowed\" or \"never\", not \"\(read)\"")
            }
            return ProviderConfig(descriptor: descriptor, storage: storage, neverRead: read == "never")
        }
        guard !providers.isEmpty else { throw NuageError(.configuration, "no [[provider]] is configured") }
    }

    /// `state`: `active` (default) or `draining`.
    static func state(_ entry: [String: TOMLValue], name: String, in place: String) throws -> String {
        let state = try string(entry, "state", in: place) ?? "active"
        guard ["active", "draining"].contains(state) else {
            throw NuageError(.configuration, "provider \(name): state must be \"active\" or \"draining\", not \"\(state)\"")
        }
        return state
    }

    /// The embedded default written by `nuage init`: eight local directories standing for
    /// providers in eight countries, one of them (CN) denied by `us-icts`. Seven are eligible
    /// and 4 + 2 needs six, so denying any one more country still leaves a placeable policy.
    public static let demo: String = {
        let providers: [(String, String, String)] = [
            ("us-east", "US", "Demo Storage Inc."), ("ca-central", "CA", "Demo Storage Canada Ltd."),
            ("eu-frankfurt", "DE", "Demo Storage GmbH"), ("eu-paris", "FR", "Demo Stockage SAS"),
            ("ch-zurich", "CH", "Demo Speicher AG"), ("jp-tokyo", "JP", "Demo Storage KK"),
            ("au-sydney", "AU", "Demo Storage Pty Ltd"), ("cn-hangzhou", "CN", "Demo Cloud Co., Ltd."),
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
            pack-limit = 262144            # objects up to this size share packs with others put meanwhile
            delete-delay = 3600            # seconds replaced versions are kept for reads in progress
            drain-rate = 50                # MB/s of shards nuage serve writes when draining a provider
            drain-parallel = 2             # versions a drain moves at once

            [server]
            # domain = "s3.example.com"    # also accept virtual-hosted style, BUCKET.s3.example.com
            max-in-flight = 64             # requests at once; more get 503 SlowDown
            # max-in-flight-per-key = 32   # of those, one access key's (default: half)
            # body-min-rate = 1024         # bytes/s a request body must average while awaited...
            # body-grace-seconds = 20      # ...after this much slack; slower: 400 RequestTimeout
            multipart-expiry-hours = 168   # abort multipart uploads not completed within a week
            allow-public-buckets = false   # true: bucket policies may let anyone in (Principal "*")

            [audit]
            reads = false                  # also record GET, HEAD and listings in the audit log

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

    private static func catalogSource(_ table: [String: TOMLValue]) throws -> CatalogSource {
        switch try string(table, "kind", in: "catalog") ?? "sqlite" {
        case "sqlite":
            try allowOnly(table, ["kind"], in: "[catalog] (kind = \"sqlite\")")
            return .sqlite
        case "postgres":
            try allowOnly(table, ["kind", "url", "password-env", "password-file"], in: "[catalog]")
            guard let url = try string(table, "url", in: "catalog") else {
                throw NuageError(.configuration, "[catalog] kind = \"postgres\" needs url = \"postgres://USER@HOST:PORT/DATABASE\"")
            }
            let passwordEnv = try string(table, "password-env", in: "catalog"), passwordFile = try string(table, "password-file", in: "catalog")
            guard passwordEnv == nil || passwordFile == nil else {
                throw NuageError(.configuration, "[catalog] takes the password from password-env or password-file, not both")
            }
            return .postgres(url: url, passwordEnv: passwordEnv, passwordFile: passwordFile)
        case let kind:
            throw NuageError(.configuration, "[catalog] kind must be \"sqlite\" or \"postgres\", not \"\(kind)\"")
        }
    }

    private static func masterKeySource(_ table: [String: TOMLValue]) throws -> MasterKeySource {
        switch try string(table, "kind", in: "master-key") ?? "file" {
        case "file":
            try allowOnly(table, ["kind"], in: "[master-key] (kind = \"file\")")
            return .file
        case "pkcs11":
            try allowOnly(table, ["kind", "module", "uri", "pin-env", "pin-file", "cache-size", "cache-seconds"], in: "[master-key]")
            guard let module = try string(table, "module", in: "master-key"), let uri = try string(table, "uri", in: "master-key") else {
                throw NuageError(.configuration, "[master-key] kind = \"pkcs11\" needs module (the PKCS#11 library) and uri (pkcs11:token=…;object=…)")
            }
            var settings = PKCS11Settings(module: module, uri: try PKCS11URI(uri), pinEnv: try string(table, "pin-env", in: "master-key"),
                                          pinFile: try string(table, "pin-file", in: "master-key"))
            guard (settings.pinEnv == nil) != (settings.pinFile == nil) else {
                throw NuageError(.configuration, "[master-key] needs the PIN from exactly one of pin-env (a variable's name) or pin-file (a path)")
            }
            settings.cacheSize = try integer(table, "cache-size", in: "master-key") ?? settings.cacheSize
            settings.cacheSeconds = try integer(table, "cache-seconds", in: "master-key") ?? settings.cacheSeconds
            guard settings.cacheSize >= 0, settings.cacheSeconds >= 0 else {
                throw NuageError(.configuration, "[master-key] cache-size and cache-seconds must not be negative")
            }
            return .pkcs11(settings)
        case let kind:
            throw NuageError(.configuration, "[master-key] kind must be \"file\" or \"pkcs11\", not \"\(kind)\"")
        }
    }

    /// The `[master-key]` section for these settings, as `nuage init` writes it.
    public static func masterKeySection(_ settings: PKCS11Settings) -> String {
        var lines = ["[master-key]", "kind = \"pkcs11\"", "module = \(quoted(settings.module))", "uri = \(quoted(settings.uri.description))"]
        if let pinEnv = settings.pinEnv { lines.append("pin-env = \(quoted(pinEnv))") }
        if let pinFile = settings.pinFile { lines.append("pin-file = \(quoted(pinFile))") }
        lines.append("cache-size = \(settings.cacheSize)             # unwrapped data keys kept in memory (0: none)")
        lines.append("cache-seconds = \(settings.cacheSeconds)          # how long each is kept")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` (a nuage.toml) with its `[master-key]` section replaced by `section`, or removed
    /// when `section` is nil; a new section goes before the first provider.
    public static func replacingMasterKeySection(in text: String, with section: String?) -> String {
        replacingSection("master-key", in: text, with: section)
    }

    /// `text` with its `[catalog]` section replaced by `section` (removed when nil).
    public static func replacingCatalogSection(in text: String, with section: String?) -> String {
        replacingSection("catalog", in: text, with: section)
    }

    /// The `[catalog]` section for a source (nil for the embedded default, which needs none).
    public static func catalogSection(_ source: CatalogSource) -> String? {
        guard case .postgres(let url, let passwordEnv, let passwordFile) = source else { return nil }
        var lines = ["[catalog]", "kind = \"postgres\"", "url = \(quoted(url))"]
        if let passwordEnv { lines.append("password-env = \(quoted(passwordEnv))") }
        if let passwordFile { lines.append("password-file = \(quoted(passwordFile))") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` (a nuage.toml) with its `[NAME]` section replaced by `section`, or removed when
    /// `section` is nil; a new section goes before the first provider.
    private static func replacingSection(_ name: String, in text: String, with section: String?) -> String {
        var text = text
        if let start = text.range(of: "\n[\(name)]\n") ?? (text.hasPrefix("[\(name)]\n") ? text.range(of: "[\(name)]\n") : nil) {
            let end = text.range(of: "\n[", range: start.upperBound..<text.endIndex)?.lowerBound ?? text.endIndex
            text.removeSubrange(start.lowerBound..<end)
        }
        guard let section else { return text }
        let providers = text.range(of: "\n[[provider]]")?.lowerBound ?? text.endIndex
        text.insert(contentsOf: "\n" + section, at: providers)
        return text
    }

    /// The master-key source a standalone `[master-key]` section names (an older token key
    /// kept in `master.key.d/ID.toml`).
    public static func masterKeySource(section text: String) throws -> MasterKeySource {
        try masterKeySource(try table(TOML.parse(text)["master-key"], "master-key") ?? [:])
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

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
