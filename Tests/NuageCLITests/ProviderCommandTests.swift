import Foundation
import NuageTestSupport
import Testing

/// `nuage providers add` and `nuage providers check` against a real S3 server.
@Suite struct ProviderCommandTests {
    @Test func addAChecksS3ProviderAndRefusesABrokenOne() async throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        let server = try await LocalS3Server.shared(.rclone)
        let bucket = try await server.freshBucket()
        let environment = ["ZRH_ACCESS": server.accessKey, "ZRH_SECRET": server.secretKey, "BAD_SECRET": "wrong"]
        func add(_ name: String, secretVariable: String) throws -> NuageCommand.Result {
            try nuage.run(["providers", "add", name, "--kind", "s3", "--endpoint", server.endpoint, "--bucket", bucket,
                           "--access-key-env", "ZRH_ACCESS", "--secret-key-env", secretVariable, "--prefix", "\(name)/",
                           "--jurisdiction", "CH", "--operator", "Zurich Cloud AG", "--operator-jurisdiction", "CH"],
                          environment: environment)
        }
        let before = try String(contentsOfFile: nuage.data + "/nuage.toml", encoding: .utf8)
        let broken = try add("broken", secretVariable: "BAD_SECRET")
        #expect(broken.status != 0)
        #expect(broken.stdout.contains("FAIL  write") && broken.stdout.contains("refused"), "\(broken.stdout)")
        #expect(try String(contentsOfFile: nuage.data + "/nuage.toml", encoding: .utf8) == before, "a failing provider is not added")

        let added = try add("zurich", secretVariable: "ZRH_SECRET")
        #expect(added.status == 0, "\(added.stdout) \(added.stderr)")
        for step in ["write", "read", "range read", "list", "delete", "clock skew"] {
            #expect(added.stdout.contains("pass  \(step)"), "\(step): \(added.stdout)")
        }
        let toml = try String(contentsOfFile: nuage.data + "/nuage.toml", encoding: .utf8)
        #expect(toml.contains("name = \"zurich\"") && toml.contains("secret-key-env = \"ZRH_SECRET\""))
        #expect(!toml.contains(server.secretKey), "the secret never reaches the configuration")
        #expect(try nuage.run(["providers", "add", "zurich", "--kind", "directory", "--path", "x", "--jurisdiction", "CH",
                               "--operator", "X", "--operator-jurisdiction", "CH"]).stderr.contains("exists already"))

        let check = try nuage.run(["providers", "check", "zurich"], environment: environment)
        #expect(check.status == 0 && check.stdout.contains("pass  clock skew"), "\(check.stdout) \(check.stderr)")
        let missingSecret = try nuage.run(["providers", "check", "zurich"])
        #expect(missingSecret.status != 0 && missingSecret.stderr.contains("ZRH_ACCESS (access-key-env) is not set"), "\(missingSecret.stderr)")
        let all = try nuage.run(["providers", "check"], environment: environment)
        #expect(all.status == 0 && all.stdout.contains("us-east:") && all.stdout.contains("zurich:"), "\(all.stdout)")
        // The new provider takes part in placement and holds shards.
        let file = nuage.workdir + "/f"
        try Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0) }).write(to: URL(fileURLWithPath: file))
        try nuage.run(["bucket", "create", "photos"], environment: environment)
        let put = try nuage.run(["put", "photos/f", file], environment: environment)
        #expect(put.status == 0, "\(put.stderr)")
        #expect(try nuage.run(["providers"], environment: environment).stdout.contains("zurich"))
        #expect(try nuage.run(["get", "photos/f", nuage.workdir + "/back"], environment: environment).status == 0)
        #expect(FileManager.default.contents(atPath: nuage.workdir + "/back") == FileManager.default.contents(atPath: file))
    }
}
