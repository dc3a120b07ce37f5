import ArgumentParser
import Foundation
import Crypto
import Hummingbird
import Logging
import NuageAudit
import NuageCatalog
import NuageConfig
import NuageCore
import NuageEngine
import NuageGateway
import NuageServer
import Synchronization

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the S3 API (path style; virtual-hosted with [server] domain).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Address to listen on, HOST:PORT.") var listen = "127.0.0.1:9000"
    @Option(help: "PEM certificate for HTTPS.") var tlsCert: String?
    @Option(help: "PEM private key for HTTPS.") var tlsKey: String?
    @Option(help: "Domain for virtual-hosted style requests (BUCKET.DOMAIN); overrides [server] domain.") var domain: String?
    @Option(help: "Least severe events logged: trace, debug, info (one line per request), notice, warning, error, critical.")
    var logLevel = "info"
    @Option(help: "Log lines on stderr as text or json.") var logFormat = "text"
    @Option(help: "Seconds requests in flight get to finish on SIGTERM or SIGINT before they are cut.") var shutdownGrace = 30
    @Option(help: "Serve Prometheus metrics at /metrics on HOST:PORT, without credentials (bind it to a private interface); off unless given.")
    var metricsListen: String?

    static func address(_ text: String, option: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw NuageError(.invalidArgument, "\(option) must be HOST:PORT, not \(text)")
        }
        return (String(text[..<colon]), port)
    }

    func run() async throws {
        let (host, port) = try Self.address(listen, option: "--listen")
        let metricsAddress = try metricsListen.map { try Self.address($0, option: "--metrics-listen") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw NuageError(.invalidArgument, "--tls-cert and --tls-key go together") }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw NuageError(.invalidArgument, "--log-level is one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not \(logLevel)")
        }
        guard let format = LogFormat(rawValue: logFormat) else { throw NuageError(.invalidArgument, "--log-format is text or json, not \(logFormat)") }
        guard shutdownGrace >= 0 else { throw NuageError(.invalidArgument, "--shutdown-grace must not be negative") }
        LoggingSystem.bootstrap { label in format.handler(label: label, level: level) }
        // Metrics are recorded only when they are served (swift-metrics does nothing otherwise).
        let metrics = metricsAddress.map { _ in GatewayMetrics() }
        metrics?.bootstrap()
        let logger = Logger(label: "nuage")
        try global.directory.initializeDefaultIfNeeded()
        let clients = ProviderFactory.HTTPClients()
        let engine = try await global.directory.engine(clients: clients)
        try await engine.checkKeysMatchCatalog()
        let configuration = try global.directory.directory.configuration()
        let serverSettings = configuration.server
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
        var options = S3Server.Options(
            domain: domain ?? serverSettings.domain, maxInFlight: serverSettings.maxInFlight, maxInFlightPerKey: serverSettings.maxInFlightPerKey,
            bodyRate: .init(minimumRate: serverSettings.bodyMinimumRate, grace: .seconds(Int64(serverSettings.bodyGraceSeconds))),
            region: serverSettings.region)
        options.auditReads = configuration.auditReads
        options.allowCustomerKeysOverHTTP = serverSettings.allowCustomerKeysOverHTTP
        options.allowPublicBuckets = serverSettings.allowPublicBuckets
        options.lifecycleDay = Double(serverSettings.lifecycleDaySeconds)
        var settings = Gateway.Settings(host: host, port: port, tls: tlsCert.map { S3Server.TLSFiles(certificate: $0, privateKey: tlsKey!) },
                                        server: options)
        settings.uploadExpiryHours = serverSettings.multipartExpiryHours
        settings.drainRate = Int64(configuration.drainRateMB) * 1_000_000
        settings.drainParallel = configuration.drainParallel
        settings.shutdownGrace = .seconds(shutdownGrace)
        settings.metricsListen = metricsAddress
        let gateway = try Gateway(engine: engine, directory: global.directory.directory, settings: settings, logger: logger, metrics: metrics,
                                  clients: clients)
        try await gateway.recordStart()
        // nuage.toml is read at start only: say so on SIGHUP (a job says so when it changes).
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP)
        hangup.setEventHandler {
            logger.warning("SIGHUP: nuage.toml is read at start only; restart nuage serve to apply a change (master keys are read again every 5 s)")
        }
        hangup.resume()
        defer { hangup.cancel() }
        do {
            try await gateway.serviceGroup(clock: ContinuousClock()).run()
            logger.notice("stopped")
        } catch where "\(error)".contains("Address already in use") {
            throw NuageError(.configuration, "port \(port) on \(host) is in use (another gateway?): stop it, or choose another with --listen HOST:PORT")
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
        @Option(help: "The owner (account) the key acts for: it sees and creates that owner's buckets only.") var owner = Owner.default
        @Flag(help: "Allow only reads (GET, HEAD, listings).") var readOnly = false
        @Option(name: .customLong("bucket"), help: "Limit the key to this bucket (repeatable).") var buckets: [String] = []
        @Flag var json = false

        func run() async throws {
            let engine = try await global.directory.engine()
            let (key, secret) = try await AccessKeys.create(engine: engine, name: name, owner: owner, readOnly: readOnly, buckets: buckets)
            await AuditTrail.record(global.directory.directory, engine, AuditEntry(
                action: "key.create", actor: "cli", detail: "\(key.id) \(key.name) owner \(owner) \(readOnly ? "read-only" : "read-write") \(buckets.isEmpty ? "all buckets" : buckets.joined(separator: ","))"))
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
                print("\(key.id)  \(key.name)  owner \(key.owner)  \(key.readOnly ? "read-only" : "read-write")  \(scope)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an access key.")
        @OptionGroup var global: GlobalOptions
        @Argument var id: String
        func run() async throws {
            let engine = try await global.directory.engine()
            guard try await engine.catalog.deleteAccessKey(id: id) else {
                throw NuageError(.invalidArgument, "no access key \(id)")
            }
            try await engine.journalDurable()
            await AuditTrail.record(global.directory.directory, engine, AuditEntry(action: "key.delete", actor: "cli", detail: id))
        }
    }
}
