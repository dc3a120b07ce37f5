import ArgumentParser
import Foundation
import Crypto
import Hummingbird
import NuageAudit
import NuageCatalog
import NuageCore
import NuageEngine
import NuageServer
import Synchronization

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the S3 API (path style; virtual-hosted with [server] domain).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Address to listen on, HOST:PORT.") var listen = "127.0.0.1:9000"
    @Option(help: "PEM certificate for HTTPS.") var tlsCert: String?
    @Option(help: "PEM private key for HTTPS.") var tlsKey: String?
    @Option(help: "Domain for virtual-hosted style requests (BUCKET.DOMAIN); overrides [server] domain.") var domain: String?

    func run() async throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw NuageError(.invalidArgument, "--listen must be HOST:PORT, not \(listen)")
        }
        let host = String(listen[..<colon])
        guard (tlsCert == nil) == (tlsKey == nil) else { throw NuageError(.invalidArgument, "--tls-cert and --tls-key go together") }
        try global.directory.initializeDefaultIfNeeded()
        let engine = try global.directory.engine()
        try await engine.checkKeysMatchCatalog()
        let configuration = try global.directory.directory.configuration()
        let settings = configuration.server
        let scheme = tlsCert == nil ? "http" : "https"
        if try await engine.catalog.listAccessKeys().isEmpty {
            let (key, secret) = try await AccessKeys.create(engine: engine, name: "default", readOnly: false, buckets: [])
            print("""
                Created the first access key (the secret is shown only now):
                  access key  \(key.id)
                  secret key  \(secret)
                Try:
                  AWS_ACCESS_KEY_ID=\(key.id) AWS_SECRET_ACCESS_KEY=\(secret) aws --endpoint-url \(scheme)://\(host):\(port) s3 ls
                """)
            fflush(nil)  // stdout is a pipe when scripted: show the key now
        }
        // The audit log: this start (and whether nuage.toml changed since the last one), then
        // every request that changes state or is refused.
        let directory = global.directory.directory
        let audit = try AuditTrail.open(directory)
        let configurationText = (try? String(contentsOfFile: directory.configurationPath, encoding: .utf8)) ?? ""
        let digest = Array(SHA256.hash(data: Data(configurationText.utf8))).hex
        if let last = try await audit.lastRecord(action: "serve.start"), last.detail != "nuage.toml sha256 \(digest)" {
            try await audit.append(AuditEntry(action: "config.changed", actor: "serve", detail: "nuage.toml sha256 \(digest)"))
        }
        try await audit.append(AuditEntry(action: "serve.start", actor: "serve", detail: "nuage.toml sha256 \(digest)"))
        try await AuditTrail.checkpointAndShip(audit, engine)
        var options = S3Server.Options(
            domain: domain ?? settings.domain, maxInFlight: settings.maxInFlight, maxInFlightPerKey: settings.maxInFlightPerKey,
            bodyRate: .init(minimumRate: settings.bodyMinimumRate, grace: .seconds(Int64(settings.bodyGraceSeconds))),
            region: settings.region)
        options.auditReads = configuration.auditReads
        options.allowCustomerKeysOverHTTP = settings.allowCustomerKeysOverHTTP
        options.audit = { record in
            do {
                try await audit.append(AuditEntry(action: record.action, actor: "s3", accessKey: record.accessKey, address: record.address,
                                                  bucket: record.bucket, key: record.key, outcome: record.outcome))
            } catch {
                note("nuage: the audit log could not record \(record.action): \(error)")
            }
        }
        let server = S3Server(engine: engine, options: options)
        let tls = tlsCert.map { S3Server.TLSFiles(certificate: $0, privateKey: tlsKey!) }
        let app = try server.application(host: host, port: port, tls: tls) { bound in
            note("nuage: serving S3 on \(scheme)://\(host):\(bound) (data \(global.directory.directory.path))")
        }
        // nuage.toml is read at start only: say so when it changes, and on SIGHUP.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP)
        hangup.setEventHandler {
            note("nuage: SIGHUP: nuage.toml is read at start only; restart nuage serve to apply a change (master keys are read again every 5 s)")
        }
        hangup.resume()
        defer { hangup.cancel() }
        let configurationPath = directory.configurationPath
        let watcher = Task {
            var said = false
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                let text = (try? String(contentsOfFile: configurationPath, encoding: .utf8)) ?? ""
                if !said && Array(SHA256.hash(data: Data(text.utf8))).hex != digest {
                    said = true
                    note("nuage: \(configurationPath) changed; this gateway keeps the configuration it started with: restart nuage serve to apply it")
                }
            }
        }
        defer { watcher.cancel() }
        let maintenance = Maintenance(engine: engine, data: global.directory.directory.path, audit: audit,
                                      uploadExpiryHours: settings.multipartExpiryHours,
                                      drainRate: Int64(configuration.drainRateMB) * 1_000_000, drainParallel: configuration.drainParallel).start()
        defer { for task in maintenance { task.cancel() } }
        do {
            try await app.runService()
        } catch where "\(error)".contains("Address already in use") {
            throw NuageError(.configuration, "port \(port) on \(host) is in use (another gateway?): stop it, or choose another with --listen HOST:PORT")
        }
    }
}

/// What a serving gateway does in the background: probe providers marked down (every 2 s),
/// repair noted shards (every 30 s), delete garbage that is due (every minute), abort expired
/// multipart uploads and destroy KMS keys whose destruction is due (every 10 min), scrub lightly (daily) and deeply at 20 MB/s (weekly).
struct Maintenance {
    let engine: Engine
    /// The data directory, for the drain journal.
    let data: String
    /// Signed every minute while records arrive, each checkpoint sent to providers.
    let audit: AuditLog
    let uploadExpiryHours: Int
    /// Shard bytes a background drain writes per second at most, and versions it moves at once.
    var drainRate: Int64 = 50_000_000
    var drainParallel = 2

    func start() -> [Task<Void, Never>] {
        let activeKey = Mutex(engine.masterKey.id)
        let engine = engine, data = data, audit = audit, hours = uploadExpiryHours, drainRate = drainRate, drainParallel = drainParallel
        return [
            every(.seconds(2)) { await engine.probeProviders() },
            // A rotation made by `nuage keys rotate-master` while this gateway serves: new writes
            // use the new key within seconds, and a retired key is dropped.
            every(.seconds(5)) {
                let before = activeKey.withLock { $0 }
                do { try engine.reloadKeys() } catch {
                    note("nuage: reading the master keys again failed (the ones held stay in use): \(error)")
                }
                // (A request that met something sealed under the new key may have read it first.)
                let now = engine.masterKey.id
                if now != before {
                    activeKey.withLock { $0 = now }
                    note("nuage: master key \(String(format: "%08x", now)) is now active")
                }
            },
            every(.seconds(30)) {
                let report: Engine.RepairReport
                do { report = try await engine.repair() } catch {
                    note("nuage: repair failed: \(error)")
                    return
                }
                if report.repaired > 0 { note("nuage: repaired \(report.repaired) shard(s)") }
                // One line per run, not per shard: a provider that stays down would flood the log.
                if let first = report.failed.first {
                    note("nuage: \(report.failed.count) repair(s) postponed, e.g. \(first)")
                }
            },
            every(.seconds(60)) {
                // Providers marked draining are emptied in the background, one version at a
                // time and at a bounded rate, so that client traffic keeps priority.
                for provider in engine.placement.providers where provider.draining {
                    do {
                        // A journal is kept for runs that find something to move.
                        let journal = Mutex<DrainJournal.Writer?>(nil)
                        let report = try await engine.drain(provider: provider.name, parallel: drainParallel, bytesPerSecond: drainRate) { so in
                            journal.withLock { journal in
                                if journal == nil { journal = DrainJournal.Writer(data: data, provider: provider.name, runner: "nuage serve") }
                                journal?.update(so)
                            }
                        }
                        journal.withLock { $0?.finish(report) }
                        if report.shards > 0 || !report.failed.isEmpty {
                            do {
                                try await audit.append(AuditEntry(
                                    action: "provider.drain", actor: "serve", outcome: report.failed.isEmpty ? "ok" : "\(report.failed.count) not moved",
                                    detail: "\(provider.name): \(report.shards) shard(s) of \(report.versions) version(s) moved"))
                            } catch {
                                note("nuage: the audit log could not record the drain of \(provider.name): \(error)")
                            }
                        }
                        if report.shards > 0 || !report.failed.isEmpty || !report.blobsLeft.isEmpty {
                            note("nuage: drain of \(provider.name): moved \(report.shards) shard(s) of \(report.versions) version(s)"
                                 + (report.failed.isEmpty ? "" : ", \(report.failed.count) not yet, e.g. \(report.failed[0])")
                                 + (report.blobsLeft.isEmpty ? "" : "; left on it: " + report.blobsLeft.joined(separator: "; ")))
                        }
                    } catch {
                        note("nuage: drain of \(provider.name) failed: \(error)")
                    }
                }
            },
            every(.seconds(60)) {
                // Replaced versions' blobs once reads in progress are done with them.
                do {
                    let (deleted, failed) = try await engine.collectDueGarbage()
                    if failed > 0 { note("nuage: \(failed) garbage blob(s) could not be deleted now (deleted \(deleted)); kept for the next run") }
                } catch {
                    note("nuage: collecting garbage failed: \(error)")
                }
            },
            // Scrubs find damage that reads never see (parity shards, cold objects); jittered so
            // that gateways sharing providers do not scrub at once.
            every(.seconds(86_400), first: .seconds(Int.random(in: 600...7200))) {
                do {
                    let report = try await engine.scrub(deep: false)
                    if !report.damaged.isEmpty { note("nuage: light scrub found \(report.damaged.count) damaged shard(s), noted for repair, e.g. \(report.damaged[0])") }
                    if !report.unchecked.isEmpty { note("nuage: light scrub could not check \(report.unchecked.count) provider(s)/shard(s), e.g. \(report.unchecked[0])") }
                } catch {
                    note("nuage: light scrub failed: \(error)")
                }
            },
            every(.seconds(7 * 86_400), first: .seconds(Int.random(in: 3600...86_400))) {
                do {
                    let report = try await engine.scrub(deep: true, bytesPerSecond: 20_000_000)
                    if !report.damaged.isEmpty { note("nuage: deep scrub found \(report.damaged.count) damaged shard(s), noted for repair, e.g. \(report.damaged[0])") }
                    if !report.unchecked.isEmpty { note("nuage: deep scrub could not check \(report.unchecked.count) shard(s), e.g. \(report.unchecked[0])") }
                } catch {
                    note("nuage: deep scrub failed: \(error)")
                }
            },
            // The catalog journal: changes made without a request waiting (repairs, drains,
            // another process) go out within seconds; a snapshot once 10,000 changes have
            // accumulated, and every hour when anything changed.
            every(.seconds(5)) {
                do {
                    let state = try await engine.catalog.journalState()
                    if state.snapshot == 0 {
                        try await engine.snapshotCatalog()
                    } else if state.durable < state.head {
                        try await engine.journalDurable()
                    }
                    try await engine.compactJournal(threshold: 10_000)
                } catch {
                    note("nuage: writing the catalog journal to providers failed (changes stay pending): \(error)")
                }
            },
            every(.seconds(60), first: .seconds(60)) {
                do { try await AuditTrail.checkpointAndShip(audit, engine) } catch {
                    note("nuage: signing or sending an audit checkpoint failed (retried in a minute): \(error)")
                }
            },
            every(.seconds(3600), first: .seconds(3600)) {
                do {
                    try await engine.compactJournal(threshold: 1)
                } catch {
                    note("nuage: writing a catalog snapshot to providers failed: \(error)")
                }
            },
            // KMS keys whose scheduled destruction is due (logged and audited by id, never by name).
            every(.seconds(600)) {
                do {
                    for destruction in try await engine.destroyDueKMSKeys() {
                        note("nuage: destroyed KMS key id \(destruction.key.id.hex) as scheduled: its objects are crypto-shredded"
                             + (destruction.problems.isEmpty ? "" : " (\(destruction.problems.joined(separator: "; ")))"))
                        do {
                            try await audit.append(AuditEntry(action: "kms.destroy", actor: "serve",
                                                              detail: "key id \(destruction.key.id.hex), as scheduled"))
                        } catch {
                            note("nuage: the audit log could not record the destruction of KMS key id \(destruction.key.id.hex): \(error)")
                        }
                    }
                } catch {
                    note("nuage: destroying due KMS keys failed (retried in 10 minutes): \(error)")
                }
            },
            every(.seconds(600)) {
                do {
                    let expired = try await engine.expireUploads(olderThan: .seconds(hours * 3600))
                    if expired > 0 { note("nuage: aborted \(expired) multipart upload(s) older than \(hours) h") }
                } catch {
                    note("nuage: expiring multipart uploads failed: \(error)")
                }
            },
        ]
    }

    private func every(_ interval: Duration, first: Duration = .zero, _ work: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        Task {
            if first > .zero { try? await Task.sleep(for: first) }
            while !Task.isCancelled {
                await work()
                try? await Task.sleep(for: interval)
            }
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and remove S3 access keys; split and join the master key.",
        subcommands: [Create.self, ListKeys.self, Remove.self, SplitMaster.self, JoinMaster.self, RotateMaster.self, Rekey.self, RetireMaster.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an access key; the secret is printed only now.")
        @OptionGroup var global: GlobalOptions
        @Option var name = "key"
        @Flag(help: "Allow only reads (GET, HEAD, listings).") var readOnly = false
        @Option(name: .customLong("bucket"), help: "Limit the key to this bucket (repeatable).") var buckets: [String] = []
        @Flag var json = false

        func run() async throws {
            let engine = try global.directory.engine()
            let (key, secret) = try await AccessKeys.create(engine: engine, name: name, readOnly: readOnly, buckets: buckets)
            await AuditTrail.record(global.directory.directory, engine, AuditEntry(
                action: "key.create", actor: "cli", detail: "\(key.id) \(key.name) \(readOnly ? "read-only" : "read-write") \(buckets.isEmpty ? "all buckets" : buckets.joined(separator: ","))"))
            if json {
                printJSON(["access_key": key.id, "secret_key": secret])
            } else {
                print("access key  \(key.id)\nsecret key  \(secret)")
            }
        }
    }

    struct ListKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List access keys (never their secrets).")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            for key in try await global.directory.engine().catalog.listAccessKeys() {
                let scope = key.buckets.isEmpty ? "all buckets" : key.buckets.joined(separator: ",")
                print("\(key.id)  \(key.name)  \(key.readOnly ? "read-only" : "read-write")  \(scope)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an access key.")
        @OptionGroup var global: GlobalOptions
        @Argument var id: String
        func run() async throws {
            let engine = try global.directory.engine()
            guard try await engine.catalog.deleteAccessKey(id: id) else {
                throw NuageError(.invalidArgument, "no access key \(id)")
            }
            try await engine.journalDurable()
            await AuditTrail.record(global.directory.directory, engine, AuditEntry(action: "key.delete", actor: "cli", detail: id))
        }
    }
}
