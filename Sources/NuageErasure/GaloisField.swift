import CNuageErasure

/// Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D), the field
/// ISA-L and klauspost/reedsolomon use.
enum GaloisField {
    static func mul(_ a: UInt8, _ b: UInt8) -> UInt8 { nuage_gf_mul(a, b) }
    static func inv(_ a: UInt8) -> UInt8 { nuage_gf_inv(a) }

    /// out[r] = XOR_j coefs[r * sources.count + j] * sources[j], every buffer `length` bytes.
    static func dot(kernel: Kernel, length: Int, coefficients: [UInt8],
                    sources: [UnsafeRawPointer], outputs: [UnsafeMutableRawPointer]) {
        precondition(coefficients.count == sources.count * outputs.count)
        guard length > 0, !outputs.isEmpty else { return }
        let ins: [UnsafePointer<UInt8>?] = sources.map { $0.assumingMemoryBound(to: UInt8.self) }
        let outs: [UnsafeMutablePointer<UInt8>?] = outputs.map { $0.assumingMemoryBound(to: UInt8.self) }
        coefficients.withUnsafeBufferPointer { c in
            ins.withUnsafeBufferPointer { i in
                outs.withUnsafeBufferPointer { o in
                    nuage_gf_dot(kernel.cValue, length, Int32(sources.count), Int32(outputs.count),
                                 c.baseAddress, i.baseAddress, o.baseAddress)
                }
            }
        }
    }
}
