import Foundation
import NuageConfig
import NuageCore
import NuageCrypto
import NuageEngine
import NuageErasure

/// Encode and decode of one hot 1 MiB stripe, measured like ISA-L's `isal-ec.sh`.
struct CodecBenchmark {
    let dataShards: Int
    let parityShards: Int
    let kernel: Kernel

    func run() throws -> (encode: Double, decode: Double) {
        let codec = try ReedSolomon(dataShards: dataShards, parityShards: parityShards, kernel: kernel)
        let length = ((1 << 20) / dataShards) & ~63
        let shards = (0..<codec.totalShards).map { _ in ByteBlock(uninitializedCount: length) }
        for block in shards { block.withUnsafeMutableBytes { for i in $0.indices { $0[i] = UInt8.random(in: 0...255) } } }
        let pointers = shards.map { $0.unsafeMutableBytes.baseAddress! }
        let data = pointers[..<dataShards].map { UnsafeRawPointer($0) }
        let parity = Array(pointers[dataShards...])
        let bytes = Double(dataShards * length)
        return try withExtendedLifetime(shards) {
            let encode = medianRate(bytesPerCall: bytes) { codec.encode(length: length, data: data, parity: parity) }
            // Decode with the first m data shards missing: rebuild them from the rest.
            let missing = Array(0..<min(parityShards, dataShards))
            var present: [UnsafeRawPointer?] = pointers.map { UnsafeRawPointer($0) }
            for index in missing { present[index] = nil }
            let outputs = missing.map { _ in ByteBlock(uninitializedCount: length) }
            let outs = outputs.map { $0.unsafeMutableBytes.baseAddress! }
            let decode = try withExtendedLifetime(outputs) {
                try medianRate(bytesPerCall: bytes) {
                    try codec.reconstruct(length: length, shards: present, wanted: missing, into: outs)
                }
            }
            for (index, out) in zip(missing, outputs) where out.bytes != shards[index].bytes {
                throw NuageError(.integrity, "benchmark decode produced wrong bytes")
            }
            return (encode, decode)
        }
    }
}

/// Sealing throughput on one core.
struct SealBenchmark {
    func run() -> (seal16k: Double, seal1m: Double, tag: Double) {
        let key = DataKey.random()
        let versionID = [UInt8].random(count: 16)
        let big = ByteBlock(count: 1 << 20)
        let rate: (Int) -> Double = { size in
            var index: UInt64 = 0
            return medianRate(bytesPerCall: Double(size)) {
                index += 1
                _ = try? key.seal(segment: UnsafeRawBufferPointer(rebasing: big.unsafeMutableBytes[..<size]),
                                  index: index, isLast: false, versionID: versionID)
            }
        }
        var tag = [UInt8](repeating: 0, count: 16)
        let tagKey = ChunkTagKey.random()
        let tagRate = medianRate(bytesPerCall: Double(big.count)) {
            tag.withUnsafeMutableBytes { tagKey.tag(chunk: UnsafeRawBufferPointer(big.unsafeMutableBytes), shard: 0, segment: 0, into: $0) }
        }
        return (rate(16 << 10), rate(1 << 20), tagRate)
    }
}

/// One object through the whole engine over the demo providers, beside copies of the same
/// bytes; medians of interleaved rounds.
///
/// The reference is a copy written the way Nuage writes files (read, write with write-behind,
/// fsync: ``FileWriter``), the fastest way to copy here and so the physical limit; a plain
/// `cp`-like copy (read, write, fsync) is measured beside it. Every phase writes a new file or
/// object and removes it after its clock stops: the put replaces nothing, as the copies
/// overwrite nothing.
struct PipelineBenchmark {
    let size: Int64
    let parent: String?
    /// Print each round's figures on stderr.
    let verbose: Bool

    /// Rounds of copy, put and get, interleaved so that the disk's mood affects all alike.
    static let rounds = 3

    struct Result {
        /// `copy`: a plain copy (`read`/`write`, closing `fsync`), as the targets define it;
        /// `writeBehindCopy`: one written as Nuage writes files, the fastest copy here.
        /// `put`: the pipeline (read, seal, encode, tag, write, commit) with the ETag given;
        /// `putMD5`: a put that also computes the MD5 ETag, as S3 PUT and `nuage put` do.
        var put: Double, putMD5: Double, get: Double, copy: Double, writeBehindCopy: Double, peakRSS: Double
    }

    func run() async throws -> Result {
        let base = parent ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let root = "\(base)/nuage-bench-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source = "\(root)/source", copyTarget = "\(root)/copy", getTarget = "\(root)/got"
        try writePattern(to: source)
        let directory = DataDirectory(path: "\(root)/data")
        try directory.initialize()
        let engine = try await directory.openEngine()
        try await engine.createBucket("bench")

        var copies: [Double] = [], writeBehindCopies: [Double] = [], puts: [Double] = [], md5Puts: [Double] = [], gets: [Double] = []
        // Each phase starts with no dirty pages left by the previous one, so that writeback
        // throttling lands on the phase that caused it, and with memory in the same state as
        // every other phase (see ``releaseRecentlyUsedMemory(in:)``).
        func timed(_ body: () async throws -> Void) async throws -> Double {
            sync()
            try releaseRecentlyUsedMemory(in: root)
            let start = ContinuousClock.now
            try await body()
            return Double(size) / seconds(since: start) / 1e6
        }
        for _ in 0..<Self.rounds {
            copies.append(try await timed { try copyFile(source, copyTarget, writeBehind: false) })
            try FileManager.default.removeItem(atPath: copyTarget)
            writeBehindCopies.append(try await timed { try copyFile(source, copyTarget, writeBehind: true) })
            try FileManager.default.removeItem(atPath: copyTarget)

            puts.append(try await timed {
                try await engine.put(bucket: "bench", key: "object", size: size, body: try FileDescriptorBody(path: source),
                                     etag: "pipeline-benchmark")
            })
            // Written as `nuage get FILE` writes: beside the target, synced, renamed into place.
            gets.append(try await timed {
                let output = try OutputFile(path: getTarget)
                for try await piece in try await engine.get(bucket: "bench", key: "object") { try output.write(piece) }
                try output.commit()
            })
            guard try filesEqual(source, getTarget) else {
                throw NuageError(.integrity, "pipeline benchmark read back different bytes")
            }
            try FileManager.default.removeItem(atPath: getTarget)
            try await engine.delete(bucket: "bench", key: "object")

            md5Puts.append(try await timed {
                try await engine.put(bucket: "bench", key: "object", size: size, body: try FileDescriptorBody(path: source))
            })
            try await engine.delete(bucket: "bench", key: "object")
        }
        if verbose {
            note("rounds (MB/s): copy \(copies.map { Int($0) }) write-behind copy \(writeBehindCopies.map { Int($0) }) put \(puts.map { Int($0) }) put with MD5 \(md5Puts.map { Int($0) }) get \(gets.map { Int($0) })")
        }
        let median = { (values: [Double]) in values.sorted()[values.count / 2] }
        return Result(put: median(puts), putMD5: median(md5Puts), get: median(gets), copy: median(copies), writeBehindCopy: median(writeBehindCopies), peakRSS: peakRSSMiB())
    }

    /// Writes and deletes a file of twice the object's size, so that every phase starts right
    /// after that much memory was freed.
    ///
    /// A virtual machine that hands freed memory back to its host (virtio-balloon free page
    /// reporting) makes writing into pages freed a moment ago up to ten times faster than into
    /// pages the host took back: on the development VM, a 1 GiB buffered write ran at
    /// 4.1–5.3 GB/s right after a delete and at 0.36–0.71 GB/s otherwise. Without this, the
    /// copies, which followed deletes, wrote into warm memory while the get, which followed
    /// the put, paid for cold pages.
    private func releaseRecentlyUsedMemory(in root: String) throws {
        let path = "\(root)/ballast"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NuageError(.invalidArgument, "cannot create \(path)") }
        defer {
            close(fd)
            unlink(path)
        }
        let writer = FileWriter(descriptor: fd, writeBehind: false)
        let buffer = [UInt8](repeating: 1, count: 1 << 20)
        var remaining = 2 * size
        while remaining > 0 {
            let n = Int(min(remaining, Int64(buffer.count)))
            try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            remaining -= Int64(n)
        }
    }

    /// Deterministic, incompressible-looking bytes, written in 1 MiB pieces.
    private func writePattern(to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NuageError(.invalidArgument, "cannot create \(path)") }
        defer { close(fd) }
        var buffer = [UInt64](repeating: 0, count: 1 << 17)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var remaining = size
        while remaining > 0 {
            for i in buffer.indices {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                buffer[i] = state
            }
            let n = Int(min(remaining, Int64(buffer.count * 8)))
            _ = buffer.withUnsafeBytes { write(fd, $0.baseAddress, n) }
            remaining -= Int64(n)
        }
        fsync(fd)
    }

    /// read(2)/write(2) in 1 MiB pieces, then fsync: what a careful `cp` does; with write-behind,
    /// what Nuage's own file writes do.
    private func copyFile(_ from: String, _ to: String, writeBehind: Bool) throws {
        let input = open(from, O_RDONLY | O_CLOEXEC), output = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(input); close(output) }
        let writer = FileWriter(descriptor: output, writeBehind: writeBehind)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = read(input, &buffer, buffer.count)
            guard n > 0 else { break }
            try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
        }
        try writer.sync()
    }

    private func filesEqual(_ a: String, _ b: String) throws -> Bool {
        guard let x = FileHandle(forReadingAtPath: a), let y = FileHandle(forReadingAtPath: b) else { return false }
        while true {
            let p = x.readData(ofLength: 1 << 20), q = y.readData(ofLength: 1 << 20)
            if p != q { return false }
            if p.isEmpty { return true }
        }
    }
}

/// The process's peak resident set (VmHWM), in MiB.
func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kib / 1024
}
