import NuageConfig
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
                ["us-east", "ca-central", "eu-frankfurt", "eu-paris", "ch-zurich", "jp-tokyo", "cn-hangzhou"])
        #expect(configuration.providers.map(\.descriptor.jurisdiction.code) == ["US", "CA", "DE", "FR", "CH", "JP", "CN"])
        #expect(configuration.providers[2].path == "providers/eu-frankfurt")
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
        #expect(configuration.providers.first?.path == "/srv/nuage/frankfurt")
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
}
