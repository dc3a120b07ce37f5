import ArgumentParser
import Foundation
import NuagePKCS11
import NuageConfig
import NuageCore
import NuageCrypto
import NuageEngine
import NuageErasure
import NuageS3Client
import NuageServer
import NuageSigV4

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the codec, sealing, the whole pipeline, and any S3 endpoint (build with -c release).",
        subcommands: [Codec.self, Seal.self, Checksums.self, Pipeline.self, S3.self, Drain.self, Recover.self, AuditCost.self, Keys.self,
                      CatalogBenchmark.self])

    struct Codec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reed-Solomon encode and decode (m data shards missing) on one core, GB/s of object data, 1 MiB stripes.")
        @Option var dataShards = 4
        @Option var parityShards = 2
        @Option(help: "scalar, avx2, avx512 or gfni (default: $NUAGE_KERNEL, else the fastest this CPU has).") var kernel: String?
        @Flag var json = false

        func run() async throws {
            let kernel = try kernel.map(Kernel.named) ?? Kernel.selected(environment: ProcessInfo.processInfo.environment)
            let result = try CodecBenchmark(dataShards: dataShards, parityShards: parityShards, kernel: kernel).run()
            if json {
                printJSON(["kernel": kernel.rawValue, "data_shards": dataShards, "parity_shards": parityShards,
                           "encode_gbps": result.encode, "decode_gbps": result.decode])
            } else {
                print(String(format: "kernel %@ k=%d m=%d encode %.2f GB/s decode %.2f GB/s", kernel.rawValue,
                             dataShards, parityShards, result.encode, result.decode))
            }
        }
    }

    struct Seal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "AES-256-GCM sealing of 16 KiB blocks and 1 MiB segments, and chunk tags, on one core.")
        @Flag var json = false

        func run() async throws {
            let result = SealBenchmark().run()
            if json {
                printJSON(["seal_16k_gbps": result.seal16k, "seal_1m_gbps": result.seal1m, "tag_gbps": result.tag])
            } else {
                print(String(format: "seal 16 KiB %.2f GB/s, seal 1 MiB %.2f GB/s, chunk tags %.2f GB/s",
                             result.seal16k, result.seal1m, result.tag))
            }
        }
    }

    struct Checksums: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "CRC32, CRC32C, CRC64NVME, SHA1 and SHA256 over 64 MiB on one core, beside zlib's CRC-32 in the same run.")
        @Flag var json = false

        func run() async throws {
            let figures = ChecksumBenchmark.run()
            if json {
                printJSON(Dictionary(uniqueKeysWithValues: figures.map { ($0.name, $0.gigabytesPerSecond) }))
            } else {
                for figure in figures {
                    print(figure.name.padding(toLength: 11, withPad: " ", startingAt: 0) + String(format: "%6.2f GB/s", figure.gigabytesPerSecond))
                }
            }
        }
    }

    struct Pipeline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put and get over the demo providers beside a plain file copy; or, with --providers s3, GET latency over six local rclone serve s3 providers, with and without a fault.")
        @Option(help: "Object size in bytes (default 1 GiB; 4 MiB with --providers s3).") var size: Int64?
        @Option(help: "Directory for the temporary data (default: $TMPDIR or /tmp).") var directory: String?
        @Option(help: "directory (the demo providers) or s3 (six local rclone serve s3 processes).") var providers = "directory"
        @Option(help: "With --providers s3: KIND:PROVIDER, e.g. stall:s3-de or latency:200ms:s3-fr.") var fault: String?
        @Option(help: "With --providers s3: GETs per phase.") var reads = 100
        @Flag(help: "Print each round's figures on stderr.") var verbose = false
        @Flag var json = false

        func validate() throws {
            guard ["directory", "s3"].contains(providers) else { throw ValidationError("--providers is directory or s3") }
            if fault != nil && providers != "s3" { throw ValidationError("--fault needs --providers s3") }
            if let fault, S3PipelineBenchmark.parseFault(fault) == nil { throw ValidationError("--fault is KIND:PROVIDER, e.g. stall:s3-de") }
        }

        func run() async throws {
            if providers == "s3" { return try await runS3() }
            let size = size ?? 1 << 30
            let result = try await PipelineBenchmark(size: size, parent: directory, verbose: verbose).run()
            if json {
                printJSON(["size": Double(size), "put_mbps": result.put, "put_md5_mbps": result.putMD5, "get_mbps": result.get,
                           "copy_mbps": result.copy, "put_md5_ratio": result.putMD5 / result.copy,
                           "write_behind_copy_mbps": result.writeBehindCopy,
                           "put_ratio": result.put / result.copy, "get_ratio": result.get / result.copy,
                           "put_ratio_write_behind": result.put / result.writeBehindCopy,
                           "get_ratio_write_behind": result.get / result.writeBehindCopy, "peak_rss_mib": result.peakRSS])
            } else {
                print(String(format: "size %lld bytes: copy %.0f MB/s (with write-behind %.0f), put %.0f MB/s (%.2fx; %.2fx), put with the MD5 ETag %.0f MB/s (%.2fx), get %.0f MB/s (%.2fx; %.2fx), peak RSS %.0f MiB",
                             size, result.copy, result.writeBehindCopy, result.put, result.put / result.copy,
                             result.put / result.writeBehindCopy, result.putMD5, result.putMD5 / result.copy,
                             result.get, result.get / result.copy,
                             result.get / result.writeBehindCopy, result.peakRSS))
            }
        }

        private func runS3() async throws {
            let size = Int(size ?? 4 << 20)
            let benchmark = S3PipelineBenchmark(size: size, objects: 8, reads: reads, fault: fault.flatMap(S3PipelineBenchmark.parseFault))
            let (putMBps, phases) = try await benchmark.run()
            let ratio = phases.count > 1 ? phases[1].percentile(0.99) / phases[0].percentile(0.99) : nil
            if json {
                var object: [String: Any] = ["size": size, "reads": reads, "put_mbps": putMBps]
                for (key, phase) in zip(["baseline", "fault"], phases) {
                    object[key] = ["name": phase.name, "p50_ms": phase.percentile(0.5) * 1000, "p99_ms": phase.percentile(0.99) * 1000]
                }
                if let ratio { object["p99_ratio"] = ratio }
                printJSON(object)
            } else {
                print(String(format: "six rclone serve s3 providers, 4+2, objects of %d bytes: put %.0f MB/s", size, putMBps))
                for phase in phases {
                    print(String(format: "GET %@  p50 %7.1f ms  p99 %7.1f ms", phase.name.padding(toLength: 22, withPad: " ", startingAt: 0),
                                 phase.percentile(0.5) * 1000, phase.percentile(0.99) * 1000))
                }
                if let ratio { print(String(format: "p99 with the fault / without: %.2fx", ratio)) }
            }
        }
    }
}

extension Bench {
    struct AuditCost: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit", abstract: "What the audit log costs per record (append time, bytes) and per checkpoint and verification.")
        @Option(help: "Records appended.") var records = 20_000
        @Flag var json = false

        func validate() throws { guard records > 0 else { throw ValidationError("--records must be positive") } }

        func run() async throws {
            let r = try await AuditBenchmark(records: records).run()
            if json {
                printJSON(["records": records, "append_us": r.appendMicroseconds, "bytes_per_record": r.bytesPerRecord,
                           "checkpoint_s": r.checkpointSeconds, "verify_s": r.verifySeconds])
            } else {
                print(String(format: "%d records: %.0f µs to append one (synchronous = FULL), %.0f bytes each on disk; "
                             + "a checkpoint over all of them %.3f s, verifying them %.3f s",
                             records, r.appendMicroseconds, r.bytesPerRecord, r.checkpointSeconds, r.verifySeconds))
            }
        }
    }

    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keys",
            abstract: "PUT and GET of small and large objects with the master key in a file, in a PKCS#11 token (cache warm and cold), under a client's key (SSE-C) and under a KMS key (SSE-KMS).",
            discussion: "A throwaway SoftHSM2 token unless --module, --uri and --pin-env name a real one.")
        @Option(help: "4 KiB objects put and got per mode.") var small = 300
        @Option(help: "Size of the large objects, MiB.") var largeMib = 64
        @Option(help: "Directory for the temporary data (default: $TMPDIR or /tmp).") var directory: String?
        @Option(help: "A PKCS#11 library to use instead of SoftHSM2.") var module: String?
        @Option(help: "With --module: pkcs11:token=…;object=….") var uri: String?
        @Option(help: "With --module: the environment variable holding the PIN.") var pinEnv: String?
        @Flag var json = false

        func validate() throws {
            guard small > 0, largeMib > 0 else { throw ValidationError("--small and --large-mib must be positive") }
            guard (module == nil) == (uri == nil) && (module == nil) == (pinEnv == nil) else {
                throw ValidationError("--module, --uri and --pin-env go together")
            }
        }

        func run() async throws {
            var token: (module: String, uri: PKCS11URI, pin: String)?
            if let module, let uri, let pinEnv {
                guard let pin = ProcessInfo.processInfo.environment[pinEnv] else { throw ValidationError("$\(pinEnv) is not set") }
                token = (module, try PKCS11URI(uri), pin)
            }
            let rows = try await MasterKeyBenchmark(smallCount: small, largeSize: largeMib << 20, parent: directory, token: token).run()
            let file = rows[0]
            if json {
                printJSON(["small": small, "large_mib": largeMib, "modes": rows.map { row -> [String: Any] in
                    var object: [String: Any] = ["mode": row.mode, "small_put_ops": row.smallPut, "small_get_ops": row.smallGet,
                                                 "large_put_mbps": row.largePut, "large_get_mbps": row.largeGet,
                                                 "small_get_ratio": row.smallGet / file.smallGet, "small_put_ratio": row.smallPut / file.smallPut,
                                                 "large_get_ratio": row.largeGet / file.largeGet, "large_put_ratio": row.largePut / file.largePut]
                    if let unwraps = row.unwrapsPerGet { object["token_unwraps_per_get"] = unwraps }
                    object["unwrap_us"] = row.unwrapMicroseconds
                    return object
                }])
            } else {
                print("demo providers, \(small) objects of 4 KiB and 3 of \(largeMib) MiB per mode, sequential; ratios against the file key")
                for row in rows {
                    print(String(format: "%@ 4 KiB PUT %6.0f/s (%.2fx)  GET %6.0f/s (%.2fx)  %d MiB PUT %5.0f MB/s (%.2fx)  GET %5.0f MB/s (%.2fx)  unwrap %.1f µs%@",
                                 row.mode.padding(toLength: 20, withPad: " ", startingAt: 0), row.smallPut, row.smallPut / file.smallPut, row.smallGet, row.smallGet / file.smallGet,
                                 largeMib, row.largePut, row.largePut / file.largePut, row.largeGet, row.largeGet / file.largeGet,
                                 row.unwrapMicroseconds, row.unwrapsPerGet.map { String(format: "  token unwraps per GET %.1f", $0) } ?? ""))
                }
            }
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Objects per second that nuage recover rebuilds, from journal segments and from a snapshot.")
        @Option(help: "Objects stored first.") var objects = 10_000
        @Option(help: "Bytes per object.") var objectSize = 1024
        @Option(help: "directory (the demo providers) or s3 (six local rclone serve s3 processes).") var providers = "directory"
        @Option(help: "Puts in flight while filling.") var concurrency = 16
        @Flag var json = false

        func validate() throws {
            guard ["directory", "s3"].contains(providers) else { throw ValidationError("--providers is directory or s3") }
            guard objects > 0, objectSize >= 0, concurrency > 0 else { throw ValidationError("--objects and --concurrency must be positive") }
        }

        func run() async throws {
            let r = try await RecoveryBenchmark(objects: objects, objectSize: objectSize, s3: providers == "s3", concurrency: concurrency).run()
            if json {
                printJSON(["providers": providers, "objects": objects, "object_size": objectSize, "puts_per_second": r.putsPerSecond,
                           "segments": ["seconds": r.segments.seconds, "objects_per_second": Double(objects) / r.segments.seconds,
                                        "segments_read": r.segments.report.segmentsRead, "changes": r.segments.report.changesReplayed],
                           "snapshot": ["seconds": r.snapshot.seconds, "objects_per_second": Double(objects) / r.snapshot.seconds]])
            } else {
                print(String(format: "%@ providers, %d objects of %d bytes, put with %d in flight: %.0f puts/s",
                             providers == "s3" ? "six rclone serve s3" : "seven demo directory", objects, objectSize, concurrency, r.putsPerSecond))
                print(String(format: "recover from %d segments (%d changes): %.2f s, %.0f objects/s",
                             r.segments.report.segmentsRead, r.segments.report.changesReplayed, r.segments.seconds, Double(objects) / r.segments.seconds))
                print(String(format: "recover from one snapshot:            %.2f s, %.0f objects/s", r.snapshot.seconds, Double(objects) / r.snapshot.seconds))
            }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drain throughput (rebuilding, and copying from the source) and GET latency during a background drain against without, over seven providers.")
        @Option(help: "Bytes of objects stored first (default 1 GiB).") var size: Int64 = 1 << 30
        @Option(help: "Bytes per object.") var objectSize = 16 << 20
        @Option(help: "directory (the demo providers) or s3 (seven local rclone serve s3 processes).") var providers = "directory"
        @Option(help: "GETs in the phase without a drain.") var reads = 100
        @Option(help: "The background drain's MB/s (nuage serve's default).") var rate = 50
        @Option(help: "Versions drained at once (nuage serve's default).") var parallel = 2
        @Flag var json = false

        func validate() throws {
            guard ["directory", "s3"].contains(providers) else { throw ValidationError("--providers is directory or s3") }
            guard size > 0, objectSize > 0, reads > 0, rate > 0, (1...64).contains(parallel) else {
                throw ValidationError("--size, --object-size, --reads and --rate must be positive, --parallel 1 to 64")
            }
        }

        func run() async throws {
            let r = try await DrainBenchmark(total: size, objectSize: objectSize, s3: providers == "s3", reads: reads,
                                             rate: Int64(rate) * 1_000_000, parallel: parallel).run()
            let ratio = r.during.percentile(0.99) / r.baseline.percentile(0.99)
            if json {
                func drain(_ d: DrainBenchmark.Drain) -> [String: Any] {
                    ["provider": d.report.provider, "shards": d.report.shards, "written_mb": Double(d.report.writtenBytes) / 1e6,
                     "mbps": d.mbps, "read_amplification": d.amplification, "seconds": d.seconds]
                }
                var object: [String: Any] = [
                    "providers": providers, "size": size, "object_size": objectSize, "put_mbps": r.putMBps,
                    "baseline": ["gets": r.baseline.latencies.count, "p50_ms": r.baseline.percentile(0.5) * 1000, "p99_ms": r.baseline.percentile(0.99) * 1000],
                    "during": ["gets": r.during.latencies.count, "p50_ms": r.during.percentile(0.5) * 1000, "p99_ms": r.during.percentile(0.99) * 1000],
                    "p99_ratio": ratio, "paced": drain(r.paced), "rebuild": drain(r.rebuild), "copy_from_source": drain(r.copy),
                ]
                if let copy = r.fileCopy { object["file_copy_mbps"] = copy; object["rebuild_vs_file_copy"] = r.rebuild.mbps / copy }
                printJSON(object)
            } else {
                print(String(format: "%@ providers, 4+2, %lld bytes in objects of %d bytes (put %.0f MB/s)",
                             providers == "s3" ? "seven rclone serve s3" : "seven demo directory", size, objectSize, r.putMBps))
                func line(_ label: String, _ d: DrainBenchmark.Drain) {
                    print(String(format: "%@ %@: %d shards, %.0f MB written in %.1f s: %.0f MB/s, read amplification %.1fx",
                                 label.padding(toLength: 30, withPad: " ", startingAt: 0), d.report.provider, d.report.shards,
                                 Double(d.report.writtenBytes) / 1e6, d.seconds, d.mbps, d.amplification))
                }
                line("drain at \(rate) MB/s, \(parallel) at once", r.paced)
                line("drain flat out (rebuild)", r.rebuild)
                line("drain flat out (copy)", r.copy)
                if let copy = r.fileCopy {
                    print(String(format: "plain file copy of a provider: %.0f MB/s (rebuild %.2fx, copy from source %.2fx of it)",
                                 copy, r.rebuild.mbps / copy, r.copy.mbps / copy))
                }
                for phase in [r.baseline, r.during] {
                    print(String(format: "GET %@ %4d GETs  p50 %7.1f ms  p99 %7.1f ms", phase.name.padding(toLength: 16, withPad: " ", startingAt: 0),
                                 phase.latencies.count, phase.percentile(0.5) * 1000, phase.percentile(0.99) * 1000))
                }
                print(String(format: "p99 during the drain / without: %.2fx (target at most 2x)", ratio))
            }
        }
    }

    struct S3: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load any S3 endpoint: PUT, GET or mixed objects from concurrent workers; MB/s, ops/s, p50/p99 latency.")
        @Option(help: "http(s)://HOST:PORT of the S3 endpoint.") var endpoint: String
        @Option var accessKey: String
        @Option var secretKey: String
        @Option var region = "us-east-1"
        @Option(help: "Bucket to use (created if missing); the objects written are deleted at the end.") var bucket = "nuage-bench"
        @Option(help: "Object size in bytes.") var size = 64 << 20
        @Option(help: "Requests in flight.") var concurrency = 4
        @Option(help: "Seconds per phase.") var duration = 10.0
        @Option(help: "Phases to run, in order: put, get, mixed (comma-separated).") var phases = "put,get"
        @Option(help: "The server's process id on this machine: its CPU time per GB is reported beside the client's.") var serverPid: Int32?
        @Flag var json = false

        func validate() throws {
            guard size > 0, concurrency > 0, duration > 0 else { throw ValidationError("--size, --concurrency and --duration must be positive") }
            for phase in phases.split(separator: ",") where S3LoadBenchmark.Phase(rawValue: String(phase)) == nil {
                throw ValidationError("unknown phase \(phase) (put, get, mixed)")
            }
        }

        func run() async throws {
            let client = try NuageS3Client.S3Client(endpoint: endpoint, signer: SigV4Signer(accessKey: accessKey, secretKey: secretKey, region: region))
            let benchmark = S3LoadBenchmark(client: client, bucket: bucket, size: size, concurrency: concurrency, duration: duration,
                                            serverPID: serverPid)
            let results = try await benchmark.run(phases.split(separator: ",").compactMap { S3LoadBenchmark.Phase(rawValue: String($0)) })
            if json {
                var object: [String: Any] = ["endpoint": endpoint, "size": size, "concurrency": concurrency]
                for result in results { object[result.phase.rawValue] = result.json }
                printJSON(object)
            } else {
                print("\(endpoint): objects of \(size) bytes, \(concurrency) in flight, \(duration) s per phase")
                for result in results { print(result.line) }
            }
        }
    }
}

func printJSON(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

/// Seconds since an instant, as a Double.
func seconds(since start: ContinuousClock.Instant) -> Double {
    (ContinuousClock.now - start).inSeconds
}

/// Median of 9 timed runs of at least 0.25 s each, as ISA-L's benchmark does.
func medianRate(bytesPerCall: Double, _ body: () throws -> Void) rethrows -> Double {
    var rates: [Double] = []
    for _ in 0..<9 {
        var calls = 0
        let start = ContinuousClock.now
        var elapsed = 0.0
        repeat {
            for _ in 0..<16 { try body() }
            calls += 16
            elapsed = seconds(since: start)
        } while elapsed < 0.25
        rates.append(Double(calls) * bytesPerCall / elapsed / 1e9)
    }
    return rates.sorted()[4]
}
