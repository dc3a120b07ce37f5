import ArgumentParser
import Foundation
import NuageAudit
import NuageConfig
import NuageCore
import NuageEngine
import NuageGateway
import NuageProviders

struct Providers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add and check providers.",
        subcommands: [ListProviders.self, Add.self, Check.self, Drain.self], defaultSubcommand: ListProviders.self)

    struct ListProviders: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "Each provider: kind, jurisdiction, operator, state and bytes stored; bytes per jurisdiction.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON (exact sizes in bytes).") var json = false

        struct Line: Encodable {
            var name: String, kind: String, location: String, operatorName: String, operatorJurisdiction: String
            var state: String, bytesStored: Int64?, blobs: Int?
        }
        struct Jurisdiction: Encodable { var code: String, located: Int64, operated: Int64, total: Int64 }
        struct Unconfigured: Encodable { var name: String, versions: Int, example: String }
        struct Report: Encodable {
            var providers: [Line]
            var jurisdictions: [Jurisdiction]
            var unconfigured: [Unconfigured]
            var dataShards: Int, parityShards: Int
        }

        func run() async throws {
            let engine = try await global.directory.engine()
            let statuses = await engine.providerStatus()
            var located: [String: Int64] = [:], operated: [String: Int64] = [:]
            for status in statuses {
                guard let bytes = status.bytesStored else { continue }
                located[status.descriptor.jurisdiction.code, default: 0] += bytes
                // A provider operated from its own country counts once there.
                if status.descriptor.operatorJurisdiction.code != status.descriptor.jurisdiction.code {
                    operated[status.descriptor.operatorJurisdiction.code, default: 0] += bytes
                }
            }
            let jurisdictions = Set(located.keys).union(operated.keys).sorted().map { code in
                Jurisdiction(code: code, located: located[code] ?? 0, operated: operated[code] ?? 0,
                             total: (located[code] ?? 0) + (operated[code] ?? 0))
            }
            let gone = try await engine.unconfiguredProviders()
            let policy = engine.placement.policy
            if json {
                try printJSON(encodable: Report(
                    providers: statuses.map { status in
                        let d = status.descriptor
                        return Line(name: d.name, kind: d.kind, location: d.jurisdiction.code, operatorName: d.operatorName,
                                    operatorJurisdiction: d.operatorJurisdiction.code, state: status.state, bytesStored: status.bytesStored,
                                    blobs: status.blobs)
                    },
                    jurisdictions: jurisdictions, unconfigured: gone.map { Unconfigured(name: $0.name, versions: $0.versions, example: $0.example) },
                    dataShards: policy.dataShards, parityShards: policy.parityShards))
                return
            }
            print("name            kind       location  operator                          state    bytes stored")
            for status in statuses {
                let d = status.descriptor
                let bytes = status.bytesStored.map { "\(ByteCount.describe($0)) in \(status.blobs ?? 0) blobs" } ?? "unavailable"
                let state = status.state == "active" ? "active" : "excluded"
                print("\(d.name.rightPadded(14))  \(d.kind.rightPadded(9))  \(d.jurisdiction.code.rightPadded(8))  \("\(d.operatorName) (\(d.operatorJurisdiction))".rightPadded(32))  \(state.rightPadded(7))  \(bytes)")
                if status.state != "active" { print("                \(status.state)") }
            }
            for provider in gone {
                print("\(provider.name.rightPadded(14))  not configured, but shards of \(provider.versions) version(s) are still on it (e.g. \(provider.example)); "
                      + "they are read from the others: `nuage providers drain \(provider.name)` rebuilds them elsewhere")
            }
            print("")
            print("stored per jurisdiction (where providers are, and where their operators are when elsewhere):")
            for j in jurisdictions {
                print("  \(j.code.rightPadded(4))  \(ByteCount.describe(j.total).leftPadded(10))"
                      + (j.operated > 0 ? "  (located \(ByteCount.describe(j.located)), operated from here \(ByteCount.describe(j.operated)))" : ""))
            }
            print("Shards are ciphertext: \(policy.dataShards)+\(policy.parityShards) erasure coding stores "
                  + String(format: "%.2f", Double(policy.dataShards + policy.parityShards) / Double(policy.dataShards))
                  + "× an object's bytes, plus a 2 KiB header per shard and a 16-byte tag per chunk; a provider that is located "
                  + "in one country and operated from another counts for both.")
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Probe providers: reachability, credentials, write, read, range read, list, delete, latency, clock skew; exit 1 on any failure.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Provider to check (default: all).") var name: String?

        func run() async throws {
            let handle = global.directory
            try handle.requireInitialized()
            let directory = handle.directory
            let configuration = try directory.configuration()
            let chosen = configuration.providers.filter { name == nil || $0.descriptor.name == name }
            guard !chosen.isEmpty else { throw NuageError(.invalidArgument, "no provider named \(name ?? "")") }
            // A provider the policy denies is never contacted unless the operator names it.
            let exclusions = try Placement(policy: configuration.policy, providers: configuration.providers.map(\.descriptor)).exclusions
            var failed = false
            for config in chosen {
                if name == nil, let reason = exclusions[config.descriptor.name] {
                    print("\(config.descriptor.name): skipped, not contacted: the policy denies it (\(reason)); name it to check it anyway")
                    continue
                }
                let provider = try ProviderFactory.make(config, resolve: directory.resolve, environment: ProcessInfo.processInfo.environment)
                failed = try await report(config.descriptor.name, provider) || failed
            }
            if failed { throw ExitCode.failure }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a provider to nuage.toml once it passes `providers check` (--force adds it anyway).")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        @Option(help: "directory or s3.") var kind: String
        @Option(help: "ISO 3166 code of where the data is.") var jurisdiction: String
        @Option(help: "The company that runs it.") var `operator`: String
        @Option(help: "ISO 3166 code of the country controlling that company.") var operatorJurisdiction: String
        @Option(help: "directory: the directory (relative to the data directory unless absolute).") var path: String?
        @Option(help: "s3: http(s)://HOST[:PORT].") var endpoint: String?
        @Option(help: "s3: the bucket.") var bucket: String?
        @Option(help: "s3: the signing region.") var region: String?
        @Option(help: "s3: environment variable holding the access key id.") var accessKeyEnv: String?
        @Option(help: "s3: environment variable holding the secret key.") var secretKeyEnv: String?
        @Option(help: "s3: AWS-style credentials file (instead of the variables).") var credentialsFile: String?
        @Option(help: "s3: path or virtual.") var addressing: String?
        @Option(help: "s3: prefix for blob names in the bucket.") var prefix: String?
        @Option(help: "s3: PEM file of CAs to trust.") var caFile: String?
        @Flag(help: "Add even if the check fails.") var force = false

        func run() async throws {
            let handle = global.directory
            try handle.requireInitialized()
            let directory = handle.directory
            let current = try directory.configuration()
            guard !current.providers.contains(where: { $0.descriptor.name == name }) else {
                throw NuageError(.invalidArgument, "a provider named \(name) exists already")
            }
            var lines = ["", "[[provider]]", "name = \(TOML.quoted(name))", "kind = \(TOML.quoted(kind))"]
            let settings: [(String, String?)] = [
                ("path", path), ("endpoint", endpoint), ("bucket", bucket), ("region", region), ("access-key-env", accessKeyEnv),
                ("secret-key-env", secretKeyEnv), ("credentials-file", credentialsFile), ("addressing", addressing),
                ("prefix", prefix), ("ca-file", caFile), ("jurisdiction", jurisdiction), ("operator", `operator`),
                ("operator-jurisdiction", operatorJurisdiction),
            ]
            for case let (key, value?) in settings { lines.append("\(key) = \(TOML.quoted(value))") }
            let text = try String(contentsOfFile: directory.configurationPath, encoding: .utf8)
            let updatedText = text + (text.hasSuffix("\n") ? "" : "\n") + lines.joined(separator: "\n") + "\n"
            // The whole file must still parse, and the policy must still be satisfiable.
            let updated = try Configuration(toml: updatedText)
            let failures = try Placement(policy: updated.policy, providers: updated.providers.map(\.descriptor)).check().failures
            guard failures.isEmpty else {
                throw NuageError(.policyUnsatisfiable, "with \(name) the policy fails: \(failures.joined(separator: "; "))")
            }
            let config = updated.providers.last!
            // (A directory provider's root is created here, as at `init`.)
            let provider = try ProviderFactory.make(config, resolve: directory.resolve, environment: ProcessInfo.processInfo.environment,
                                                    createDirectory: true)
            let failed = try await report(name, provider)
            guard !failed || force else {
                note("not added: the check failed (use --force to add it anyway)")
                throw ExitCode.failure
            }
            try directory.writeConfiguration(updatedText)
            print("added \(name) to \(directory.configurationPath)")
            let engine = try await handle.engine()
            await AuditTrail.record(directory, engine, AuditEntry(action: "provider.add", actor: "cli",
                                                                  detail: "\(name) \(kind) in \(jurisdiction), \(`operator`) (\(operatorJurisdiction))"))
        }
    }
}

/// Prints a provider's check, one line per step; returns whether any step failed.
private func report(_ name: String, _ provider: any Provider) async throws -> Bool {
    print("\(name):")
    let steps = await ProviderCheck.run(provider)
    for step in steps {
        let time = step.milliseconds.map { String(format: "%7.1f ms", $0) } ?? "          "
        print("  \(step.passed ? "pass" : "FAIL")  \(step.name.rightPadded(11))  \(time)  \(step.detail)")
    }
    return steps.contains { !$0.passed }
}
