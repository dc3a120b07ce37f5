import Foundation

/// Throughput of the checksums S3 clients send, on one core, beside zlib's CRC-32 (the system's
/// libz, loaded at run time) as the peer measured in the same run: `nuage bench checksums`.
public enum ChecksumBenchmark {
    public struct Figure: Sendable {
        public var name: String
        public var gigabytesPerSecond: Double
    }

    /// - Parameter bytes: the buffer each checksum runs over (several passes, best kept).
    public static func run(bytes: Int = 64 << 20, passes: Int = 3) -> [Figure] {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        func best(_ body: () -> Void) -> Double {
            var fastest = Double.infinity
            for _ in 0..<passes {
                let start = ContinuousClock.now
                body()
                let elapsed = ContinuousClock.now - start
                fastest = min(fastest, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
            return Double(bytes) / fastest / 1e9
        }
        var figures = ChecksumAlgorithm.allCases.map { algorithm in
            Figure(name: algorithm.name, gigabytesPerSecond: best {
                var hasher = algorithm.hasher()
                data.withUnsafeBytes { hasher.update($0) }
                _ = hasher.finalBase64()
            })
        }
        if let zlib = zlibCRC32() {
            figures.append(Figure(name: "zlib crc32", gigabytesPerSecond: best {
                _ = data.withUnsafeBytes { zlib(0, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32($0.count)) }
            }))
        }
        return figures
    }

    typealias CRC32Function = @convention(c) (UInt, UnsafePointer<UInt8>, UInt32) -> UInt

    /// zlib's `crc32`, when the system has libz.
    static func zlibCRC32() -> CRC32Function? {
        guard let library = dlopen("libz.so.1", RTLD_NOW), let symbol = dlsym(library, "crc32") else { return nil }
        return unsafeBitCast(symbol, to: CRC32Function.self)
    }
}
