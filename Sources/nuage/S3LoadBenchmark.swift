import AsyncHTTPClient
import Foundation
import NIOCore
import NuageCore
import NuageS3Client
import NuageSigV4

/// A load generator for any S3 endpoint: `concurrency` workers PUT (or GET) objects of `size`
/// bytes for `duration` seconds; reports throughput and latency percentiles. Nuage and other
/// S3 servers are measured by this same client.
struct S3LoadBenchmark {
    enum Phase: String, CaseIterable {
        case put, get, mixed
    }

    struct Result {
        var phase: Phase
        var operations: Int
        var bytes: Int64
        var seconds: Double
        var latencies: [Double]  // seconds, sorted
        /// CPU seconds (user + system) this load generator spent during the phase.
        var clientCPU: Double
        /// CPU seconds the server process spent, when its pid was given.
        var serverCPU: Double?

        var megabytesPerSecond: Double { Double(bytes) / seconds / 1e6 }
        var operationsPerSecond: Double { Double(operations) / seconds }
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)]
        }
        /// CPU seconds per GB moved: the client's, and the server's when known.
        var clientCPUPerGB: Double { clientCPU / (Double(bytes) / 1e9) }
        var serverCPUPerGB: Double? { serverCPU.map { $0 / (Double(bytes) / 1e9) } }
        /// The throughput at which server and client together would use every core of this
        /// machine: the ceiling for this pair when they share it.
        var cpuBoundMegabytesPerSecond: Double? {
            serverCPUPerGB.map { Double(ProcessInfo.processInfo.activeProcessorCount) / ($0 + clientCPUPerGB) * 1000 }
        }
        var json: [String: Any] {
            var object: [String: Any] = [
                "operations": operations, "bytes": bytes, "seconds": seconds, "mbps": megabytesPerSecond,
                "ops_per_second": operationsPerSecond, "p50_ms": percentile(0.5) * 1000, "p99_ms": percentile(0.99) * 1000,
                "client_cpu_s_per_gb": clientCPUPerGB]
            if let serverCPUPerGB, let cpuBoundMegabytesPerSecond {
                object["server_cpu_s_per_gb"] = serverCPUPerGB
                object["cpu_bound_mbps"] = cpuBoundMegabytesPerSecond
            }
            return object
        }
        var line: String {
            var line = String(format: "%@  %5d ops  %8.1f MB/s  %7.2f ops/s  p50 %8.1f ms  p99 %8.1f ms  client %.2f CPU s/GB",
                              phase.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0), operations, megabytesPerSecond,
                              operationsPerSecond, percentile(0.5) * 1000, percentile(0.99) * 1000, clientCPUPerGB)
            if let serverCPUPerGB, let cpuBoundMegabytesPerSecond {
                line += String(format: "  server %.2f CPU s/GB  (all cores busy at %.0f MB/s)", serverCPUPerGB, cpuBoundMegabytesPerSecond)
            }
            return line
        }
    }

    let client: S3Client
    let bucket: String
    let size: Int
    let concurrency: Int
    let duration: Double
    /// The server's process, whose CPU time is measured beside the client's (same machine).
    var serverPID: Int32?

    /// Runs the phases in order; objects written are deleted at the end.
    func run(_ phases: [Phase]) async throws -> [Result] {
        try await client.createBucket(bucket)
        let prefix = "nuage-bench-\([UInt8].random(count: 4).hex)/"
        var payload = ByteBuffer()
        payload.writeBytes([UInt8].random(count: min(size, 1 << 20)))
        while payload.readableBytes < size {
            payload.writeImmutableBuffer(payload.getSlice(at: 0, length: min(payload.readableBytes, size - payload.readableBytes))!)
        }
        let written = Locked<[String]>([])
        var results: [Result] = []
        do {
            try await runPhases(phases, prefix: prefix, payload: payload, written: written, into: &results)
        } catch {
            await delete(written.value)
            throw error
        }
        await delete(written.value)
        return results
    }

    private func delete(_ keys: [String]) async {
        for key in keys { try? await client.delete(bucket: bucket, key: key) }
    }

    private func runPhases(_ phases: [Phase], prefix: String, payload: ByteBuffer, written: Locked<[String]>,
                           into results: inout [Result]) async throws {
        for phase in phases {
            if phase != .put && written.value.isEmpty {
                // Something to read: one object per worker.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<concurrency {
                        group.addTask { try await self.put(prefix + "seed-\(worker)", payload, written) }
                    }
                    try await group.waitForAll()
                }
            }
            results.append(try await measure(phase, prefix: prefix, payload: payload, written: written))
        }
    }

    private func measure(_ phase: Phase, prefix: String, payload: ByteBuffer, written: Locked<[String]>) async throws -> Result {
        let readable = written.value
        let clientStart = CPUTime.ofThisProcess(), serverStart = serverPID.flatMap(CPUTime.ofProcess)
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int(duration * 1000))
        let samples = try await withThrowingTaskGroup(of: [(Double, Int64)].self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var samples: [(Double, Int64)] = []
                    var n = 0
                    repeat {
                        let began = ContinuousClock.now
                        let writing = phase == .put || (phase == .mixed && n % 2 == 0)
                        let bytes: Int64
                        if writing {
                            try await self.put(prefix + "\(phase.rawValue)-\(worker)-\(n)", payload, written)
                            bytes = Int64(payload.readableBytes)
                        } else {
                            bytes = try await self.get(readable[(worker + n) % readable.count])
                        }
                        samples.append((seconds(since: began), bytes))
                        n += 1
                    } while ContinuousClock.now < deadline
                    return samples
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let elapsed = seconds(since: start)
        let serverCPU = serverStart.flatMap { before in serverPID.flatMap(CPUTime.ofProcess).map { $0 - before } }
        return Result(phase: phase, operations: samples.count, bytes: samples.reduce(0) { $0 + $1.1 },
                      seconds: elapsed, latencies: samples.map { $0.0 }.sorted(),
                      clientCPU: CPUTime.ofThisProcess() - clientStart, serverCPU: serverCPU)
    }

    private func put(_ key: String, _ payload: ByteBuffer, _ written: Locked<[String]>) async throws {
        try await client.put(bucket: bucket, key: key, body: .bytes(payload))
        written.withLock { $0.append(key) }
    }

    private func get(_ key: String) async throws -> Int64 {
        let response = try await client.get(bucket: bucket, key: key)
        var count: Int64 = 0
        for try await buffer in response.body { count += Int64(buffer.readableBytes) }
        guard count == Int64(size) else {
            throw NuageError(.integrity, "GET \(key) returned \(count) bytes, not \(size)")
        }
        return count
    }
}

/// CPU time (user + system), in seconds.
enum CPUTime {
    static func ofThisProcess() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Another process's, from `/proc/PID/stat` (Linux); nil when it cannot be read.
    static func ofProcess(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name: state is field 3, utime 14 and stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
