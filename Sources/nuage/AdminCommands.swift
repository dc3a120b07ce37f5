import ArgumentParser
import Foundation
import NuageAudit
import NuageCatalog
import NuageCore
import NuageEngine
import NuageGateway
import NuagePKCS11
import NuageConfig

struct Initialize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a data directory: nuage.toml, master.key (0600), catalog.sqlite and the demo providers.",
        discussion: """
            With --master-key pkcs11 the master key is a non-extractable AES-256 key in a PKCS#11 \
            token (an HSM) instead of master.key: created there, or adopted when the token already holds \
            a secret key of that label. The PIN comes from --pin-env or --pin-file, never the command line.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "Where the master key lives: file (master.key) or pkcs11 (a token).") var masterKey = "file"
    @Option(help: "pkcs11: the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so.") var module: String?
    @Option(help: "pkcs11: the token and key, pkcs11:token=LABEL;object=LABEL (RFC 7512).") var uri: String?
    @Option(help: "pkcs11: the environment variable holding the token's user PIN.") var pinEnv: String?
    @Option(help: "pkcs11: a file (mode 0600) holding the PIN.") var pinFile: String?

    func run() async throws {
        let directory = global.directory.directory
        var text = Configuration.demo
        switch masterKey {
        case "file":
            guard module == nil, uri == nil, pinEnv == nil, pinFile == nil else {
                throw ValidationError("--module, --uri, --pin-env and --pin-file go with --master-key pkcs11")
            }
        case "pkcs11":
            guard let module, let uri else { throw ValidationError("--master-key pkcs11 needs --module and --uri") }
            guard (pinEnv == nil) != (pinFile == nil) else { throw ValidationError("--master-key pkcs11 needs one of --pin-env or --pin-file") }
            // Before the providers, with the other settings.
            let section = Configuration.masterKeySection(.init(module: module, uri: try PKCS11URI(uri), pinEnv: pinEnv, pinFile: pinFile))
            let providers = text.range(of: "\n[[provider]]")?.lowerBound ?? text.endIndex
            text.insert(contentsOf: "\n" + section, at: providers)
        default:
            throw ValidationError("--master-key is file or pkcs11, not \(masterKey)")
        }
        try directory.initialize(configuration: text)
        print("initialised \(directory.path)")
        print("  configuration  \(directory.configurationPath)")
        if case .pkcs11(let settings) = try directory.configuration().masterKey {
            print("  master key     \(settings.uri) in \(settings.module) (non-extractable; without it no object can be read)")
        } else {
            print("  master key     \(directory.masterKeyPath)  (keep it safe: without it no object can be read)")
        }
        print("  catalog        \(directory.catalogPath)")
    }
}

struct BucketCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bucket", abstract: "Create, remove and list buckets.",
        subcommands: [Create.self, Remove.self, ListBuckets.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a bucket.")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        @Option(help: "The owner (account) the bucket belongs to.") var owner = Owner.default
        func run() async throws {
            try Owner.validate(owner)
            let engine = try await global.directory.engine()
            try await engine.createBucket(name, owner: owner)
            await AuditTrail.record(global.directory.directory, engine, AuditEntry(action: "bucket.create", actor: "cli", bucket: name,
                                                                                   detail: "owner \(owner)"))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an empty bucket.")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        func run() async throws {
            let engine = try await global.directory.engine()
            try await engine.deleteBucket(name)
            await AuditTrail.record(global.directory.directory, engine, AuditEntry(action: "bucket.delete", actor: "cli", bucket: name))
        }
    }

    struct ListBuckets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List buckets.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            for bucket in try await global.directory.engine().listBuckets() {
                print("\(ISO8601DateFormatter().string(from: bucket.created))  \(bucket.name)  owner \(bucket.owner)")
            }
        }
    }
}

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Check the placement policy against the providers.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each rule, pass or fail, and why; exit 1 if any fails.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            // From the configuration alone: an engine refuses to open on a failing policy.
            let handle = global.directory
            try handle.requireInitialized()
            let configuration = try handle.directory.configuration()
            let placement = try Placement(policy: configuration.policy, providers: configuration.providers.map(\.descriptor))
            let (rules, failures) = placement.check()
            for rule in rules { print("\(rule.passed ? "pass" : "FAIL")  \(rule.name): \(rule.detail)") }
            if !failures.isEmpty { throw ExitCode.failure }
        }
    }
}

struct GarbageCollect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Delete blobs of replaced, deleted and crashed writes, expired multipart uploads, and orphans on providers.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Seconds a write may run before its blobs count as abandoned.") var grace: Int = 3600
    @Option(help: "Seconds a replaced or deleted version's blobs are kept for reads in progress (default: [storage] delete-delay; 0 when no gateway is serving).")
    var deleteDelay: Int?

    func run() async throws {
        guard grace >= 0 else { throw NuageError(.invalidArgument, "--grace must not be negative") }
        guard (deleteDelay ?? 0) >= 0 else { throw NuageError(.invalidArgument, "--delete-delay must not be negative") }
        let engine = try await global.directory.engine()
        let expiry = try global.directory.directory.configuration().server.multipartExpiryHours
        let report = try await engine.collectGarbage(grace: .seconds(grace), uploadExpiry: .seconds(expiry * 3600),
                                                     deleteDelay: deleteDelay.map { .seconds($0) })
        print("abandoned puts \(report.abandonedIntents), unfinished files removed \(report.removedAbandonedWrites), expired uploads \(report.expiredUploads), garbage blobs deleted \(report.deletedGarbage), orphans deleted \(report.deletedOrphans), KMS keys destroyed as scheduled \(report.destroyedKMSKeys), crypto-shredded objects removed \(report.shreddedObjects), failed \(report.failed)")
    }
}

struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair", abstract: "Rebuild shards noted as missing, corrupt or never written; exit 1 if some must wait.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let engine = try await global.directory.engine()
        await engine.probeProviders()
        let report = try await engine.repair()
        print("repaired \(report.repaired) shard(s), dropped \(report.dropped) note(s) of versions gone, \(report.failed.count) postponed")
        for failure in report.failed { print("  \(failure)") }
        if !report.failed.isEmpty { throw ExitCode.failure }
    }
}
