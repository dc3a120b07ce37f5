import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NuageConfig
import NuageEngine
@testable import NuageGateway
import NuageServer
import NuageSigV4
import NuageTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// The gateway as `nuage serve` runs it: one service group, built by the same function, on an
/// injected clock.
@Suite struct GatewayTests {
    @Test func periodicJobsRunOnTheirClockAndStopAtShutdown() async throws {
        let clock = ManualClock(), runs = Atomic<Int>(0)
        let job = PeriodicService("count", every: .seconds(10), first: .seconds(5), clock: clock) { runs.add(1, ordering: .relaxed) }
        let group = ServiceGroup(configuration: .init(services: [job], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        try await clock.waitForSleepers(1)
        #expect(runs.load(ordering: .relaxed) == 0, "nothing before the first delay")
        clock.advance(by: .seconds(5))
        try await until { runs.load(ordering: .relaxed) == 1 && clock.sleepers == 1 }
        clock.advance(by: .seconds(9))
        try await clock.waitForSleepers(1)
        #expect(runs.load(ordering: .relaxed) == 1, "not before the interval")
        clock.advance(by: .seconds(1))
        try await until { runs.load(ordering: .relaxed) == 2 && clock.sleepers == 1 }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(clock.sleepers == 0)
    }

    /// A shutdown (what SIGTERM starts) lets a PUT whose body is still arriving finish, then
    /// the whole group stops; with a grace shorter than the request, the request is cut and the
    /// group still stops.
    @Test(arguments: [true, false]) func aShutdownLetsARequestInFlightFinish(withinGrace: Bool) async throws {
        let root = NSTemporaryDirectory() + "nuage-gateway-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = DataDirectory(path: root)
        try directory.initialize(configuration: try await TestCatalog.configuration(Configuration.demo))
        let engine = try await directory.openEngine(environment: [:])
        try await engine.createBucket("bkt")
        let (key, secret) = try await AccessKeys.create(engine: engine, name: "test", readOnly: false, buckets: [])
        var settings = Gateway.Settings(host: "127.0.0.1", port: 0)
        settings.shutdownGrace = withinGrace ? .seconds(60) : .milliseconds(50)
        let gateway = try Gateway(engine: engine, directory: directory, settings: settings, logger: Logger(label: "test"))
        let bound = AsyncStream<Int>.makeStream()
        let group = try gateway.serviceGroup(clock: ManualClock(), signals: false) { port in bound.continuation.yield(port) }
        let running = Task { try await group.run() }
        var ports = bound.stream.makeAsyncIterator()
        let port = try #require(await ports.next())

        let body = [UInt8]((0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let path = "/bkt/in-flight"
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .PUT
        let signer = SigV4Signer(accessKey: key.id, secretKey: secret)
        for (name, value) in signer.sign(method: "PUT", path: path, headers: [("host", "127.0.0.1:\(port)")], payloadHash: "UNSIGNED-PAYLOAD") {
            request.headers.add(name: name, value: value)
        }
        let (pieces, feed) = AsyncStream<ByteBuffer>.makeStream()
        request.body = .stream(pieces, length: .known(Int64(body.count)))
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let response = Task { try await client.execute(request, timeout: .seconds(60)) }
        feed.yield(ByteBuffer(bytes: body[..<(1 << 20)]))
        // The first half is on its way; then the shutdown begins, then the rest arrives.
        try await Task.sleep(for: .milliseconds(300))
        await group.triggerGracefulShutdown()
        try await Task.sleep(for: .milliseconds(300))
        feed.yield(ByteBuffer(bytes: body[(1 << 20)...]))
        feed.finish()
        let answer = try? await response.value
        _ = try? await running.value  // a cut request ends the group with a cancellation
        try await client.shutdown()
        if withinGrace {
            #expect(answer?.status == .ok)
            #expect(try await engine.getBytes(bucket: "bkt", key: "in-flight") == body)
        } else {
            #expect(answer?.status != .ok, "the request outlasted the grace and was cut")
            await #expect(throws: (any Error).self, "nothing of a cut PUT is visible") { try await engine.head(bucket: "bkt", key: "in-flight") }
        }
    }

    /// Polls a condition that other tasks make true (no duration is asserted).
    func until(_ condition: () -> Bool) async throws {
        let start = ContinuousClock.now
        while !condition() {
            guard ContinuousClock.now - start < .seconds(30) else { Issue.record("condition not met"); return }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
