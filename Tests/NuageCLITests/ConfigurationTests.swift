import Foundation
@testable import NuageConfig
import NuageCore
import Testing

@Suite struct ConfigurationTests {
    @Test func demoConfigurationParses() throws {
        let configuration = try Configuration(toml: Configuration.demo)
        #expect(configuration.policy.dataShards == 4 && configuration.policy.parityShards == 2)
        #expect(configuration.policy.deny == ["us-icts"])
        #expect(configuration.policy.writeQuorum == 5)
        #expect(configuration.segmentSize == 1 << 20)
        #expect(configuration.providers.map(\.descriptor.name) ==
                ["us-east", "ca-central", "eu-frankfurt", "eu-paris", "ch-zurich", "jp-tokyo", "au-sydney", "cn-hangzhou"])
        #expect(configuration.providers.map(\.descriptor.jurisdiction.code) == ["US", "CA", "DE", "FR", "CH", "JP", "AU", "CN"])
        #expect(configuration.providers[2].storage == .directory(path: "providers/eu-frankfurt"))
    }

    @Test func issueExampleParses() throws {
        let text = """
            [policy]
            data-shards = 3
            parity-shards = 3 # comment
            deny = [
              "us-icts",   # multi-line array
              'RU',
            ]
            survive-jurisdiction-loss = 1
            write-quorum = 5
            [[provider]]
            name = "eu-frankfurt"
            kind = "directory"
            path = "/srv/nuage/frankfurt"
            jurisdiction = "DE"
            operator = "Demo Storage GmbH"
            operator-jurisdiction = "DE"
            """
        let configuration = try Configuration(toml: text)
        #expect(configuration.policy.deny == ["us-icts", "RU"])
        #expect(configuration.policy.writeQuorum == 5)
        #expect(configuration.providers.first?.descriptor.operatorName == "Demo Storage GmbH")
        #expect(configuration.providers.first?.storage == .directory(path: "/srv/nuage/frankfurt"))
    }

    @Test(arguments: [
        ("[policy]\ndata-shard = 4", "unknown key 'data-shard'"),
        ("[policy]\ndata-shards = \"four\"", "must be an integer"),
        ("[policy]\ndeny = [\"XX1\"]", "neither a country code nor a preset"),
        ("[policy]\nwrite-quorum = 9", "write-quorum"),
        ("[policy]\ndata-shards = 4\ndata-shards = 5", "defined twice"),
        ("[policy\n", "unterminated table header"),
        ("x = \"open", "unterminated string"),
        ("[policy]\ndata-shards = 4", "no [[provider]]"),
        ("[[provider]]\nname = \"a\"\nkind = \"directory\"\npath = \"p\"\njurisdiction = \"DE\"\noperator = \"A\"", "needs 'operator-jurisdiction'"),
        ("[[provider]]\nname = \"a\"\nkind = \"ftp\"", "kind 'ftp' is not supported"),
        ("[[provider]]\nname = \"a\"\nkind = \"s3\"\nendpoint = \"http://x\"\nbucket = \"b\"", "give access-key-env and secret-key-env, or credentials-file"),
        ("[[provider]]\nname = \"a\"\nkind = \"s3\"\nendpoint = \"http://x\"\nbucket = \"b\"\naddressing = \"dns\"", "addressing must be"),
        ("[[provider]]\nname = \"a\"\nkind = \"directory\"\npath = \"p\"\nbucket = \"b\"", "unknown key 'bucket'"),
        ("[server]\nport = 1", "unknown key 'port' in [server]"),
        ("[server]\nmax-in-flight = 0", "max-in-flight must be positive"),
        ("[storage]\nsegment-size = 1000", "segment-size must be between 4096 (4 KiB) and 67108864 (64 MiB), not 1000"),
        ("[storage]\ndelete-delay = -1", "delete-delay must be between 0 and 2592000"),
        ("[storage]\ndrain-rate = 0", "drain-rate must be between 1 and 100000 MB/s, not 0"),
        ("[storage]\ndrain-parallel = 65", "drain-parallel must be between 1 and 64, not 65"),
        ("[[provider]]\nname = \"a\"\nkind = \"directory\"\npath = \"p\"\njurisdiction = \"Germany\"\noperator = \"A\"\noperator-jurisdiction = \"DE\"", "not an ISO 3166"),
    ])
    func badConfigurationsAreExplained(text: String, expected: String) {
        #expect { try Configuration(toml: text) } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test func tomlValues() throws {
        let table = try TOML.parse("""
            a = 1_000
            b = -5
            c = true
            d = "esc \\" \\\\ \\u00e9 # not a comment"
            e = 'lit # also not'
            f = []
            [t]
            "quoted key" = 'v'
            """)
        #expect(table["a"] == .integer(1000) && table["b"] == .integer(-5) && table["c"] == .bool(true))
        #expect(table["d"] == .string("esc \" \\ é # not a comment"))
        #expect(table["e"] == .string("lit # also not"))
        #expect(table["f"] == .array([]))
        #expect(table["t"] == .table(["quoted key": .string("v")]))
    }

    static let s3Provider = """
        [[provider]]
        name = "aws-frankfurt"
        kind = "s3"
        endpoint = "https://s3.eu-central-1.amazonaws.com"
        bucket = "acme-nuage"
        region = "eu-central-1"
        access-key-env = "FRA_ACCESS_KEY"
        secret-key-env = "FRA_SECRET_KEY"
        addressing = "virtual"
        jurisdiction = "DE"
        operator = "Amazon Web Services"
        operator-jurisdiction = "US"
        """

    @Test func s3ProvidersTakeCredentialsFromTheEnvironmentOnly() throws {
        let configuration = try Configuration(toml: Self.s3Provider)
        let provider = try #require(configuration.providers.first)
        guard case .s3(let settings) = provider.storage else { Issue.record("not an s3 provider"); return }
        #expect(settings.bucket == "acme-nuage" && settings.region == "eu-central-1" && settings.addressing == "virtual")
        #expect(provider.descriptor.operatorJurisdiction.code == "US")
        #expect { try ProviderFactory.make(provider, resolve: { $0 }, environment: ["FRA_ACCESS_KEY": "AK"]) }
            throws: { "\($0)".contains("FRA_SECRET_KEY (secret-key-env) is not set") }
        let made = try ProviderFactory.make(provider, resolve: { $0 }, environment: ["FRA_ACCESS_KEY": "AK", "FRA_SECRET_KEY": "SK"])
        #expect(made.name == "aws-frankfurt")
    }

    @Test func s3CredentialsFile() throws {
        let path = NSTemporaryDirectory() + "nuage-credentials-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n[backup]\naws_access_key_id=A2\naws_secret_access_key=S2\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        var settings = Configuration.S3Settings(endpoint: "http://127.0.0.1:1", bucket: "b")
        settings.credentialsFile = path
        settings.profile = "backup"
        #expect(try ProviderFactory.credentials(settings, provider: "p", resolve: { $0 }, environment: [:]) == ("A2", "S2"))
        settings.profile = "missing"
        #expect { try ProviderFactory.credentials(settings, provider: "p", resolve: { $0 }, environment: [:]) }
            throws: { "\($0)".contains("no aws_access_key_id") }
    }
}
