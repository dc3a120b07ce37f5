import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
import NuageEngine
import NuageLocalS3
import NuageProviders

/// `nuage bench pipeline --providers s3`: the engine over six local `rclone serve s3`
/// processes (providers in six countries, 4+2, the resilience stack), measuring GET latency
/// with no fault and then with a fault injected on one provider, in the same run.
struct S3PipelineBenchmark {
    let size: Int
    let objects: Int
    let reads: Int
    /// The fault and the provider it hits (`s3-us`, `s3-ca`, `s3-de`, `s3-fr`, `s3-ch`, `s3-jp`).
    let fault: (FaultInjectingProvider.Fault, String)?

    struct Phase {
        var name: String
        var latencies: [Double]  // seconds, sorted
        func percentile(_ p: Double) -> Double {
            latencies[min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)]
        }
    }

    func run() async throws -> (putMBps: Double, phases: [Phase]) {
        let fleet = try await LocalS3Fleet.start()
        defer { fleet.stop() }
        let root = NSTemporaryDirectory() + "nuage-bench-s3-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }

        let switches = Dictionary(uniqueKeysWithValues: fleet.members.map { ($0.descriptor.name, $0.faults) })
        let entries = fleet.engineEntries
        if let fault, switches[fault.1] == nil {
            throw NuageError(.invalidArgument, "no provider \(fault.1) (they are \(switches.keys.sorted().joined(separator: ", ")))")
        }
        let engine = try Engine(catalog: try SQLiteCatalog(path: root + "/catalog.sqlite"), providers: entries,
                                policy: try PlacementPolicy(), masterKey: try MasterKey(bytes: .random(count: 32)))
        try await engine.createBucket("bench")
        let data = [UInt8].random(count: size)
        let start = ContinuousClock.now
        for index in 0..<objects {
            try await engine.put(bucket: "bench", key: "object-\(index)", size: Int64(size), body: BytesBody(data))
        }
        let putMBps = Double(size * objects) / seconds(since: start) / 1e6

        func measure(_ name: String) async throws -> Phase {
            var latencies: [Double] = []
            for index in 0..<reads {
                let began = ContinuousClock.now
                var count = 0
                for try await piece in try await engine.get(bucket: "bench", key: "object-\(index % objects)") { count += piece.count }
                guard count == size else { throw NuageError(.integrity, "read \(count) of \(size) bytes") }
                latencies.append(seconds(since: began))
            }
            return Phase(name: name, latencies: latencies.sorted())
        }
        _ = try await measure("warm-up")
        var phases = [try await measure("no fault")]
        if let fault {
            switches[fault.1]!.set([fault.0])
            phases.append(try await measure("\(fault.0) on \(fault.1)"))
            switches[fault.1]!.set([])
        }
        return (putMBps, phases)
    }

    /// `KIND:NAME`, KIND as ``FaultInjectingProvider/Fault/init(_:)`` reads it (`stall:s3-de`, `latency:200ms:s3-fr`).
    static func parseFault(_ text: String) -> (FaultInjectingProvider.Fault, String)? {
        guard let colon = text.lastIndex(of: ":"), let fault = FaultInjectingProvider.Fault(String(text[..<colon])) else { return nil }
        return (fault, String(text[text.index(after: colon)...]))
    }
}

extension LocalS3Fleet {
    /// The members as an engine's providers (resilience stack and health included).
    var engineEntries: [Engine.ProviderEntry] {
        members.map { Engine.ProviderEntry(descriptor: $0.descriptor, provider: $0.provider, health: $0.health) }
    }
}
