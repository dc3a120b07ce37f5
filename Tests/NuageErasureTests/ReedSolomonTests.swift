@testable import NuageErasure
import NuageCore
import Testing

/// Deterministic bytes for a (seed, length).
func noise(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state >> 24)
    }
}

func combinations(_ n: Int, _ size: Int) -> [[Int]] {
    guard size > 0 else { return [[]] }
    guard n >= size else { return [] }
    return combinations(n - 1, size) + combinations(n - 1, size - 1).map { $0 + [n - 1] }
}

@Suite struct ReedSolomonTests {
    static let kernels = Kernel.available

    @Test func machineHasTheExpectedKernels() {
        #expect(Kernel.scalar.isAvailable)
        #expect(Kernel.fastest == Kernel.available.last)
        print("kernels on this machine: \(Kernel.available.map(\.rawValue).joined(separator: ", "))")
    }

    @Test(arguments: kernels)
    func goldenVectors(_ kernel: Kernel) throws {
        // Parity computed by an independent bitwise GF(2^8) implementation (poly 0x11D, Cauchy
        // rows 1/((k+i) xor j)); data byte i of shard j is ((16j + i) * 151 + 7) mod 256.
        let golden: [(Int, Int, [String])] = [
            (4, 2, ["bc3a200914f8c7deb0960411570d64b9", "c4cdd728dd0f30834761cd69a0fa4570"]),
            (10, 4, ["f852d2a44a7e54c72423edffa284544d", "dcf9790bbdd5ff498f881adb092ffbba",
                     "ef5b3e5c943518afd7557ec9f11bf6b2", "8e37521dfd597486bb3917a89d77b7db"]),
            (1, 1, ["079e35cc63fa9128bf56ed841bb249e0"]),
            (3, 5, ["a4f8daf685b97b5c9867366239ed3743", "7318170d29895d7708ac645242645708",
                    "a7e093d990e79197cb50bd4fc90ef078", "9a5d2cd3053ca387c7dfc8ba482ac625",
                    "5929c548b7e71ef9f95a0a1d220043f3"]),
        ]
        for (k, m, parity) in golden {
            let codec = try ReedSolomon(dataShards: k, parityShards: m, kernel: kernel)
            #expect(codec.encode(ReedSolomon.goldenData(k: k)).map(\.hex) == parity, "k=\(k) m=\(m)")
        }
    }

    @Test func selfTestPasses() throws {
        try ReedSolomon.selfTest()
    }

    @Test(arguments: kernels)
    func kernelsAgreeWithScalar(_ kernel: Kernel) throws {
        var seed: UInt64 = 1
        for (k, m) in [(1, 1), (2, 1), (4, 2), (5, 3), (10, 4), (17, 15), (32, 32), (1, 32), (32, 1)] {
            let scalar = try ReedSolomon(dataShards: k, parityShards: m, kernel: .scalar)
            let fast = try ReedSolomon(dataShards: k, parityShards: m, kernel: kernel)
            for length in [0, 1, 15, 16, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 1000, 4097] {
                seed += 1
                let data = (0..<k).map { noise(length, seed: seed &* 31 &+ UInt64($0)) }
                #expect(fast.encode(data) == scalar.encode(data), "kernel \(kernel) k=\(k) m=\(m) length=\(length)")
            }
        }
    }

    @Test(arguments: kernels)
    func unalignedBuffers(_ kernel: Kernel) throws {
        // Offsets 1…63 into larger buffers: kernels must not assume alignment.
        let codec = try ReedSolomon(dataShards: 3, parityShards: 2, kernel: kernel)
        let scalar = try ReedSolomon(dataShards: 3, parityShards: 2, kernel: .scalar)
        for offset in [1, 7, 33, 63] {
            let length = 200
            let blocks = (0..<5).map { _ in ByteBlock(count: length + 64) }
            for (i, block) in blocks.prefix(3).enumerated() {
                block.withUnsafeMutableBytes { $0.copyBytes(from: noise(length + 64, seed: UInt64(i + offset))) }
            }
            let data = blocks.prefix(3).map { UnsafeRawPointer($0.unsafeMutableBytes.baseAddress! + offset) }
            let parity = blocks.suffix(2).map { $0.unsafeMutableBytes.baseAddress! + offset }
            codec.encode(length: length, data: data, parity: parity)
            let expected = scalar.encode(blocks.prefix(3).map { $0[offset..<(offset + length)] })
            #expect(blocks.suffix(2).map { $0[offset..<(offset + length)] } == expected, "offset \(offset)")
        }
    }

    /// Exhaustive: for small codes, erase every set of up to m shards and rebuild them all.
    @Test(arguments: kernels)
    func everyErasurePatternRebuilds(_ kernel: Kernel) throws {
        for (k, m) in [(1, 1), (2, 2), (3, 2), (4, 2), (4, 3), (5, 4), (6, 3), (8, 4)] {
            let codec = try ReedSolomon(dataShards: k, parityShards: m, kernel: kernel)
            let data = (0..<k).map { noise(97, seed: UInt64(k * 100 + m * 10 + $0)) }
            let full = data + codec.encode(data)
            for lost in 1...m {
                for erased in combinations(k + m, lost) {
                    var shards: [[UInt8]?] = full
                    for index in erased { shards[index] = nil }
                    try codec.reconstruct(&shards)
                    #expect(shards.map { $0 ?? [] } == full, "k=\(k) m=\(m) erased \(erased)")
                }
            }
        }
    }

    @Test(arguments: kernels)
    func largeCodesRebuildFromRandomSurvivors(_ kernel: Kernel) throws {
        var generator = SystemRandomNumberGenerator()
        for (k, m) in [(32, 32), (20, 12), (16, 16), (200, 56)] {
            let codec = try ReedSolomon(dataShards: k, parityShards: m, kernel: kernel)
            let data = (0..<k).map { noise(333, seed: UInt64($0 + k)) }
            let full = data + codec.encode(data)
            for _ in 0..<5 {
                let erased = Array((0..<(k + m)).shuffled(using: &generator).prefix(m))
                var shards: [[UInt8]?] = full
                for index in erased { shards[index] = nil }
                try codec.reconstruct(&shards)
                #expect(shards.map { $0 ?? [] } == full, "k=\(k) m=\(m) erased \(erased.sorted())")
            }
        }
    }

    @Test(arguments: kernels)
    func tooManyErasuresIsAnError(_ kernel: Kernel) throws {
        let codec = try ReedSolomon(dataShards: 4, parityShards: 2, kernel: kernel)
        let data = (0..<4).map { noise(10, seed: UInt64($0)) }
        var shards: [[UInt8]?] = data + codec.encode(data)
        shards[0] = nil
        shards[3] = nil
        shards[5] = nil
        #expect { try codec.reconstruct(&shards) } throws: { ($0 as? NuageError)?.code == .insufficientShards }
    }

    @Test(arguments: kernels)
    func invalidShapesAreRefused(_ kernel: Kernel) {
        for (k, m) in [(0, 1), (-1, 2), (1, -1), (200, 57), (256, 1)] {
            #expect(throws: NuageError.self) { try ReedSolomon(dataShards: k, parityShards: m, kernel: kernel) }
        }
        #expect(throws: Never.self) { try ReedSolomon(dataShards: 255, parityShards: 1, kernel: kernel) }
    }

    @Test(arguments: kernels)
    func decodeMatricesAreCachedByErasurePattern(_ kernel: Kernel) throws {
        let codec = try ReedSolomon(dataShards: 4, parityShards: 2, kernel: kernel)
        let data = (0..<4).map { noise(64, seed: UInt64($0)) }
        let full = data + codec.encode(data)
        for _ in 0..<3 {
            var shards: [[UInt8]?] = full
            shards[1] = nil
            try codec.reconstruct(&shards)
        }
        #expect(codec.decodeCache.count == 1)
        var shards: [[UInt8]?] = full
        shards[2] = nil
        try codec.reconstruct(&shards)
        #expect(codec.decodeCache.count == 2)
    }

    @Test func kernelSelection() throws {
        #expect(try Kernel.selected(environment: [:]) == Kernel.fastest)
        #expect(try Kernel.selected(environment: ["NUAGE_KERNEL": "scalar"]) == .scalar)
        #expect(throws: NuageError.self) { try Kernel.selected(environment: ["NUAGE_KERNEL": "sse9"]) }
        for kernel in Kernel.allCases where !kernel.isAvailable {
            #expect(throws: NuageError.self) { try Kernel.named(kernel.rawValue) }
        }
    }

    @Test func fieldArithmetic() {
        for a in 1...255 {
            #expect(GaloisField.mul(UInt8(a), GaloisField.inv(UInt8(a))) == 1)
        }
        #expect(GaloisField.mul(0x80, 2) == 0x1D, "x^8 reduces by 0x11D")
    }
}
