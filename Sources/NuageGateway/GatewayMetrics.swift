import Foundation
import Hummingbird
import Logging
import Metrics
import NuageCore
import NuageEngine
import NuageProviders
import NuageServer
import Prometheus

/// The gateway's Prometheus metrics: what swift-metrics records anywhere in the process (the
/// engine's tolerated errors and hedged reads, providers' calls, retries and durations), the S3
/// requests, and figures refreshed from the engine and the catalog (provider health, stored
/// bytes and blobs per provider with its jurisdictions, shards pending repair, objects below
/// full redundancy, garbage waiting, background jobs' progress). Served in the Prometheus text
/// format at `/metrics` on `--metrics-listen`, without credentials: bind it to a private
/// interface. Labels never carry bucket names, object keys or key names.
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    public init() {}

    /// Makes swift-metrics record into this registry, with histogram buckets from 1 ms to 60 s.
    /// Once per process (swift-metrics allows one bootstrap).
    public func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                                   .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                                   .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60)]
        MetricsSystem.bootstrap(factory)
    }

    /// Counts one S3 request once its response is written.
    public static func observe(_ outcome: RequestOutcome) {
        Counter(label: "nuage_s3_requests_total", dimensions: [("operation", outcome.operation), ("status", String(outcome.status))]).increment()
        Metrics.Timer(label: "nuage_s3_request_duration_seconds", dimensions: [("operation", outcome.operation)])
            .recordNanoseconds(outcome.duration.inNanoseconds)
        Counter(label: "nuage_s3_received_bytes_total", dimensions: [("operation", outcome.operation)]).increment(by: outcome.bytesIn)
        Counter(label: "nuage_s3_sent_bytes_total", dimensions: [("operation", outcome.operation)]).increment(by: outcome.bytesOut)
        if outcome.cut != nil { Counter(label: "nuage_s3_responses_cut_total", dimensions: [("operation", outcome.operation)]).increment() }
    }

    /// Each provider's health: `nuage_provider_state{provider, state}` is 1 for its state, 0 for the others.
    static func recordHealth(_ engine: Engine) {
        for (name, tracker) in engine.health {
            let current = tracker.state
            for state in [HealthTracker.State.healthy, .degraded, .down] {
                Gauge(label: "nuage_provider_state", dimensions: [("provider", name), ("state", state.rawValue)]).record(current == state ? 1 : 0)
            }
        }
    }

    /// What the catalog says is stored where, what waits for repair and for deletion.
    static func record(_ figures: ConsoleFigures.Figures, _ engine: Engine) {
        for descriptor in engine.placement.providers {
            let usage = figures.inventory.providers[descriptor.name] ?? .init()
            let dimensions = [("provider", descriptor.name), ("location", descriptor.jurisdiction.code),
                              ("operator_jurisdiction", descriptor.operatorJurisdiction.code)]
            Gauge(label: "nuage_provider_stored_bytes", dimensions: dimensions).record(usage.bytes)
            Gauge(label: "nuage_provider_blobs", dimensions: dimensions).record(usage.blobs)
        }
        Gauge(label: "nuage_objects").record(figures.inventory.objects)
        Gauge(label: "nuage_objects_below_full_redundancy").record(figures.inventory.objectsBelowFullRedundancy)
        Gauge(label: "nuage_shards_pending_repair").record(figures.pendingRepair)
        Gauge(label: "nuage_garbage_blobs").record(figures.garbage)
    }

    /// The `/metrics` endpoint and the console, as an application of the gateway's group.
    func application(host: String, port: Int, engine: Engine, console: Console, logger: Logger,
                     onRunning: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router()
        console.add(to: router)
        let registry = registry
        router.get("/metrics") { _, _ -> Response in
            Self.recordHealth(engine)
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: buffer))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "Nuage metrics"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}
