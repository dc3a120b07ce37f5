import Crypto
import Foundation
import Logging
import NuageAudit
import NuageConfig
import NuageCore
import NuageEngine
import NuageServer
import ServiceLifecycle

/// A serving gateway: the S3 server and every background job (provider probes, key reloads,
/// repair, drain, garbage deletion, scrubs, the catalog journal, audit checkpoints, upload
/// expiry, due KMS-key destructions, the configuration watch) as services of one
/// `ServiceGroup`. `nuage serve` and the tests build it with the same function,
/// ``serviceGroup(clock:signals:onRunning:)``.
///
/// SIGTERM and SIGINT shut it down gracefully: the S3 server stops accepting connections and
/// lets requests in flight finish (within ``Settings/shutdownGrace``, after which they are cut),
/// then the background jobs stop; `run` returns and the process exits 0.
public struct Gateway: Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        public var tls: S3Server.TLSFiles?
        public var server: S3Server.Options
        /// Multipart uploads older than this are aborted.
        public var uploadExpiryHours = 24
        /// A background drain's shard bytes per second, and versions it moves at once.
        public var drainRate: Int64 = 50_000_000
        public var drainParallel = 2
        /// How long requests in flight may take to finish once a shutdown begins.
        public var shutdownGrace: Duration = .seconds(30)
        /// Where `/metrics` is served (nil: no metrics, and none are recorded).
        public var metricsListen: (host: String, port: Int)?

        public init(host: String, port: Int, tls: S3Server.TLSFiles? = nil, server: S3Server.Options = .init()) {
            self.host = host
            self.port = port
            self.tls = tls
            self.server = server
        }
    }

    public let engine: Engine
    public let directory: DataDirectory
    public let audit: AuditLog
    public let settings: Settings
    public let logger: Logger
    /// The metrics `/metrics` serves, when ``Settings/metricsListen`` is set.
    public let metrics: GatewayMetrics?
    /// What the console shows from the catalog and from background jobs.
    let figures = ConsoleFigures()
    /// The HTTP clients of the engine's S3 providers, shut down with the group (nil: the
    /// process's, which outlive it).
    public let clients: ProviderFactory.HTTPClients?
    /// This gateway among those sharing a catalog, who holds a job's lease: its host and data
    /// directory, so that a gateway restarted on the same directory takes its leases back at once
    /// instead of waiting for them to expire.
    public var instance: String { "\(ProcessInfo.processInfo.hostName):\(URL(fileURLWithPath: directory.path).standardizedFileURL.path)" }

    /// - Parameter metrics: the registry swift-metrics was bootstrapped with (see
    ///   ``GatewayMetrics/bootstrap()``), required when `settings.metricsListen` is set.
    /// - Parameter clients: the HTTP clients `engine` was opened with, when the gateway owns them.
    public init(engine: Engine, directory: DataDirectory, settings: Settings, logger: Logger, metrics: GatewayMetrics? = nil,
                clients: ProviderFactory.HTTPClients? = nil) throws {
        guard (settings.metricsListen == nil) == (metrics == nil) else {
            throw NuageError(.invalidArgument, "a metrics address needs a metrics registry, and a registry an address")
        }
        self.engine = engine
        self.directory = directory
        self.audit = try AuditTrail.open(directory)
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.clients = clients
    }

    /// Records this start in the audit log (and whether `nuage.toml` changed since the last one),
    /// signs a checkpoint and sends it to providers.
    /// - Returns: the SHA-256 of `nuage.toml` as started with.
    @discardableResult
    public func recordStart() async throws -> String {
        let digest = configurationDigest()
        if let last = try await audit.lastRecord(action: "serve.start"), last.detail != "nuage.toml sha256 \(digest)" {
            try await audit.append(AuditEntry(action: "config.changed", actor: "serve", detail: "nuage.toml sha256 \(digest)"))
        }
        try await audit.append(AuditEntry(action: "serve.start", actor: "serve", detail: "nuage.toml sha256 \(digest)"))
        try await AuditTrail.checkpointAndShip(audit, engine)
        return digest
    }

    func configurationDigest() -> String {
        let text = (try? String(contentsOfFile: directory.configurationPath, encoding: .utf8)) ?? ""
        return Array(SHA256.hash(data: Data(text.utf8))).hex
    }

    /// The S3 server: requests are recorded in the audit log as they are answered.
    public func server() -> S3Server {
        var options = settings.server
        let audit = audit, logger = logger
        options.audit = { record in
            do {
                try await audit.append(AuditEntry(action: record.action, actor: "s3", accessKey: record.accessKey, address: record.address,
                                                  bucket: record.bucket, key: record.key, outcome: record.outcome))
            } catch {
                logger.error("the audit log could not record a request", metadata: ["action": "\(record.action)", "error": "\(error)"])
            }
        }
        if metrics != nil { options.observe = GatewayMetrics.observe }
        return S3Server(engine: engine, options: options, logger: logger)
    }

    /// Every service, background jobs first and the S3 server last: a group shuts its services
    /// down in reverse order, so the server stops accepting and drains its requests before the
    /// jobs stop.
    public func services<C: Clock>(clock: C, onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        throws -> [ServiceGroupConfiguration.ServiceConfiguration] where C.Duration == Duration {
        let scheme = settings.tls == nil ? "http" : "https", host = settings.host, data = directory.path, logger = logger
        let app = try server().application(host: settings.host, port: settings.port, tls: settings.tls) { bound in
            logger.notice("serving S3 on \(scheme)://\(host):\(bound) (data \(data))")
            await onRunning(bound)
        }
        // First in the group, so last to stop: the providers' clients outlive every job and request.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = clients.map { clients in
            [.init(service: ClientsService(clients: clients, logger: logger), successTerminationBehavior: .gracefullyShutdownGroup,
                   serviceName: "provider-clients")]
        } ?? []
        services += jobs(clock: clock).map {
            .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: $0.name)
        }
        if let metrics, let address = settings.metricsListen {
            let engine = engine, figures = figures
            let inventory = PeriodicService("catalog-figures", every: .seconds(60), clock: clock) {
                do { GatewayMetrics.record(try await figures.refresh(engine), engine) } catch {
                    logger.error("reading the catalog's figures for metrics and the console failed (retried in a minute)", metadata: ["error": "\(error)"])
                }
            }
            let console = Console(engine: engine, auth: ConsoleAuth(engine: engine, logger: logger), figures: figures, data: directory.path, logger: logger)
            let endpoint = metrics.application(host: address.host, port: address.port, engine: engine, console: console, logger: logger) { bound in
                logger.notice("serving metrics on http://\(address.host):\(bound)/metrics and the console on http://\(address.host):\(bound)/console")
            }
            services += [.init(service: inventory, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: inventory.name),
                         .init(service: endpoint, successTerminationBehavior: .gracefullyShutdownGroup,
                               failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "metrics")]
        }
        return services + [.init(service: app, successTerminationBehavior: .gracefullyShutdownGroup,
                                 failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "s3")]
    }

    /// The group, with SIGTERM and SIGINT as graceful shutdown signals when `signals`.
    public func serviceGroup<C: Clock>(clock: C, signals: Bool = true, onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        throws -> ServiceGroup where C.Duration == Duration {
        var configuration = ServiceGroupConfiguration(services: try services(clock: clock, onRunning: onRunning),
                                                      gracefulShutdownSignals: signals ? [.sigterm, .sigint] : [],
                                                      logger: logger)
        configuration.maximumGracefulShutdownDuration = settings.shutdownGrace
        return ServiceGroup(configuration: configuration)
    }
}

/// Holds the HTTP clients of the providers until the group shuts down, then closes them.
struct ClientsService: Service {
    let clients: ProviderFactory.HTTPClients
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        do { try await clients.shutdown() } catch {
            logger.warning("closing the providers' HTTP clients failed", metadata: ["error": "\(error)"])
        }
    }
}
