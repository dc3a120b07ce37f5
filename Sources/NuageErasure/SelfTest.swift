import NuageCore

extension ReedSolomon {
    /// The 4+2 golden vector: data shard `j`, byte `i` is `((16j + i) * 151 + 7) mod 256`.
    /// Computed once by an independent bitwise implementation of the field; pinned forever.
    static let goldenParity4x2: [[UInt8]] = [
        hexBytes("bc3a200914f8c7deb0960411570d64b9"),
        hexBytes("c4cdd728dd0f30834761cd69a0fa4570"),
    ]

    static func goldenData(k: Int, length: Int = 16) -> [[UInt8]] {
        (0..<k).map { j in (0..<length).map { i in UInt8(truncatingIfNeeded: (j * 16 + i) * 151 + 7) } }
    }

    /// Checks every kernel this machine has against the golden vector and against each other
    /// on an odd-sized buffer; the engine refuses to start when this throws.
    /// - Throws: `NuageError.integrity` naming the kernel that disagrees.
    public static func selfTest() throws {
        let golden = goldenData(k: 4)
        var pattern = [UInt8](repeating: 0, count: 4 * 4099)
        var x: UInt32 = 0x9E37_79B9
        for i in pattern.indices { x = x &* 1_664_525 &+ 1_013_904_223; pattern[i] = UInt8(truncatingIfNeeded: x >> 24) }
        let wide = (0..<4).map { Array(pattern[($0 * 4099)..<(($0 + 1) * 4099)]) }
        let reference = try ReedSolomon(dataShards: 4, parityShards: 2, kernel: .scalar).encode(wide)
        for kernel in Kernel.available {
            let codec = try ReedSolomon(dataShards: 4, parityShards: 2, kernel: kernel)
            guard codec.encode(golden) == goldenParity4x2 else {
                throw NuageError(.integrity, "Reed-Solomon self-test failed: kernel \(kernel) does not reproduce the golden parity; refusing to run")
            }
            guard codec.encode(wide) == reference else {
                throw NuageError(.integrity, "Reed-Solomon self-test failed: kernel \(kernel) disagrees with the scalar kernel; refusing to run")
            }
        }
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.utf8.makeIterator()
    while let hi = it.next(), let lo = it.next() {
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
        out.append(nibble(hi) << 4 | nibble(lo))
    }
    return out
}
