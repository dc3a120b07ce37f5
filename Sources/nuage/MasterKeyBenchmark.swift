import Foundation
import NuageConfig
import NuageCore
import NuageCrypto
import NuageEngine
import NuagePKCS11

/// PUT and GET of small and large objects with the master key in a file, in a PKCS#11 token
/// with a warm and a cold cache of unwrapped keys, under a client's key (SSE-C) and under a KMS key (SSE-KMS), over the
/// demo providers, in one run: what keeping keys out of the gateway costs.
struct MasterKeyBenchmark {
    let smallCount: Int
    let largeSize: Int
    let parent: String?
    /// A token to use instead of a throwaway SoftHSM2 one: module, URI, PIN.
    let token: (module: String, uri: PKCS11URI, pin: String)?

    struct Row {
        var mode: String
        /// Operations per second of small PUTs and GETs; MB/s of large ones.
        var smallPut: Double, smallGet: Double, largePut: Double, largeGet: Double
        /// Token calls (unwraps that missed the cache) per small GET.
        var unwrapsPerGet: Double?
        /// One data-key unwrap through the engine's master key (the cache, when warm; the token, when cold).
        var unwrapMicroseconds: Double
    }

    func run() async throws -> [Row] {
        let base = parent ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let root = "\(base)/nuage-bench-keys-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let settings = try token.map { try tokenSettings($0) } ?? throwawaySoftHSM(in: root)

        var rows: [Row] = []
        let customer = try CustomerKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
        for mode in ["file", "pkcs11, cache warm", "pkcs11, cache cold", "SSE-C (file)", "SSE-KMS (file)"] {
            let directory = DataDirectory(path: "\(root)/\(rows.count)")
            var text = Configuration.demo
            if mode.hasPrefix("pkcs11") {
                var modeSettings = settings
                if mode.hasSuffix("cold") { modeSettings.cacheSize = 0 }
                let providers = text.range(of: "\n[[provider]]")?.lowerBound ?? text.endIndex
                text.insert(contentsOf: "\n" + Configuration.masterKeySection(modeSettings), at: providers)
            }
            try directory.initialize(configuration: text)
            let engine = try await directory.openEngine()
            try await engine.createBucket("bench")
            let key = mode.hasPrefix("SSE-C") ? customer : nil
            let kmsKey = mode.hasPrefix("SSE-KMS") ? "bench" : nil
            if let kmsKey { try await engine.createKMSKey(name: kmsKey) }
            rows.append(try await measure(engine, mode: mode, customerKey: key, kmsKey: kmsKey, warm: mode.hasSuffix("warm")))
        }
        return rows
    }

    private func measure(_ engine: Engine, mode: String, customerKey: CustomerKey?, kmsKey: String?, warm: Bool) async throws -> Row {
        let small = [UInt8](repeating: 0x5a, count: 4096)
        let smallPut = try await rate(count: smallCount) { index in
            _ = try await engine.put(bucket: "bench", key: "s\(index)", size: Int64(small.count), body: BytesBody(small), customerKey: customerKey, kmsKey: kmsKey)
        }
        if warm {
            for index in 0..<smallCount { _ = try await engine.getBytes(bucket: "bench", key: "s\(index)", customerKey: customerKey) }
        }
        let before = engine.masterKey.unwrappedKeyCache?.counts
        let smallGet = try await rate(count: smallCount) { index in
            guard try await engine.getBytes(bucket: "bench", key: "s\(index)", customerKey: customerKey) == small else {
                throw NuageError(.integrity, "the key benchmark read back different bytes")
            }
        }
        let after = engine.masterKey.unwrappedKeyCache?.counts
        let large = [UInt8](repeating: 0xa5, count: largeSize)
        var puts: [Double] = [], gets: [Double] = []
        for round in 0..<3 {
            puts.append(Double(largeSize) / 1e6 * (try await rate(count: 1) { _ in
                _ = try await engine.put(bucket: "bench", key: "l\(round)", size: Int64(large.count), body: BytesBody(large), customerKey: customerKey, kmsKey: kmsKey)
            }))
            gets.append(Double(largeSize) / 1e6 * (try await rate(count: 1) { _ in
                var total = 0
                for try await piece in try await engine.get(bucket: "bench", key: "l\(round)", customerKey: customerKey) { total += piece.count }
                guard total == largeSize else { throw NuageError(.integrity, "short read in the key benchmark") }
            }))
        }
        let median = { (values: [Double]) in values.sorted()[values.count / 2] }
        let unwraps = before.flatMap { before in after.map { Double($0.misses - before.misses) / Double(smallCount) } }
        // As the engine unwraps: the async form, on the token's thread when the token is needed.
        let version = [UInt8](repeating: 1, count: 16), wrapped = try await engine.masterKey.wrap(DataKey.random(), context: version)
        let unwrapRate = try await rate(count: 2000) { _ in _ = try await engine.masterKey.unwrap(wrapped, context: version) }
        return Row(mode: mode, smallPut: smallPut, smallGet: smallGet, largePut: median(puts), largeGet: median(gets), unwrapsPerGet: unwraps,
                   unwrapMicroseconds: 1e6 / unwrapRate)
    }

    /// Operations per second of `count` sequential calls.
    private func rate(count: Int, _ body: (Int) async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        for index in 0..<count { try await body(index) }
        return Double(count) / seconds(since: start)
    }

    private func tokenSettings(_ token: (module: String, uri: PKCS11URI, pin: String)) throws -> Configuration.PKCS11Settings {
        setenv("NUAGE_BENCH_PIN", token.pin, 1)
        return Configuration.PKCS11Settings(module: token.module, uri: token.uri, pinEnv: "NUAGE_BENCH_PIN")
    }

    /// A SoftHSM2 token of its own (SOFTHSM2_CONF is set before the library is first loaded).
    private func throwawaySoftHSM(in root: String) throws -> Configuration.PKCS11Settings {
        let module = "/usr/lib/softhsm/libsofthsm2.so"
        guard FileManager.default.fileExists(atPath: module), FileManager.default.isExecutableFile(atPath: "/usr/bin/softhsm2-util") else {
            throw NuageError(.configuration, "SoftHSM2 is missing (apt-get install softhsm2), or give --module, --uri and --pin-env")
        }
        try FileManager.default.createDirectory(atPath: "\(root)/tokens", withIntermediateDirectories: true)
        try "directories.tokendir = \(root)/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
            .write(toFile: "\(root)/softhsm2.conf", atomically: true, encoding: .utf8)
        setenv("SOFTHSM2_CONF", "\(root)/softhsm2.conf", 1)
        let pin = String(UInt32.random(in: 100_000...999_999))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/softhsm2-util")
        process.arguments = ["--init-token", "--free", "--label", "nuage-bench", "--so-pin", pin, "--pin", pin]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw NuageError(.configuration, "softhsm2-util --init-token failed") }
        return try tokenSettings(("/usr/lib/softhsm/libsofthsm2.so", PKCS11URI(token: "nuage-bench", object: "master"), pin))
    }
}
