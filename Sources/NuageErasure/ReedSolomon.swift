import NuageCore

/// A systematic Reed-Solomon code over GF(2^8): `k` data shards, `m` parity shards, and any
/// `k` of the `n = k + m` shards rebuild the rest.
///
/// The encoding matrix is the identity on top of a Cauchy matrix, row `k + i`, column `j`
/// holding `1 / ((k + i) XOR j)` (ISA-L's `gf_gen_cauchy1_matrix`): every `k × k` submatrix is
/// invertible for any `k + m ≤ 256`. The golden vectors in the tests pin it: stored data must
/// decode after any upgrade, so this matrix never changes.
public struct ReedSolomon: Sendable {
    public let dataShards: Int
    public let parityShards: Int
    public let kernel: Kernel
    /// The `m × k` parity rows of the encoding matrix.
    let parityRows: GaloisMatrix
    let decodeCache: DecodeMatrixCache

    public var totalShards: Int { dataShards + parityShards }

    /// - Throws: `NuageError.invalidArgument` unless `1 ≤ k`, `0 ≤ m` and `k + m ≤ 256`.
    public init(dataShards k: Int, parityShards m: Int, kernel: Kernel = .fastest) throws {
        guard k >= 1, m >= 0, k + m <= 256 else {
            throw NuageError(.invalidArgument, "Reed-Solomon needs 1 ≤ k, 0 ≤ m and k + m ≤ 256 (got k = \(k), m = \(m))")
        }
        dataShards = k
        parityShards = m
        self.kernel = kernel.isAvailable ? kernel : .scalar
        var rows = GaloisMatrix(rows: m, columns: k)
        for i in 0..<m {
            for j in 0..<k { rows[i, j] = GaloisField.inv(UInt8((k + i) ^ j)) }
        }
        parityRows = rows
        decodeCache = DecodeMatrixCache()
    }

    /// Computes the `m` parity shards of `k` data shards, each `length` bytes.
    public func encode(length: Int, data: [UnsafeRawPointer], parity: [UnsafeMutableRawPointer]) {
        precondition(data.count == dataShards && parity.count == parityShards)
        GaloisField.dot(kernel: kernel, length: length, coefficients: parityRows.values,
                        sources: data, outputs: parity)
    }

    /// Convenience for tests and small buffers: the parity of `data` (all of equal length).
    public func encode(_ data: [[UInt8]]) -> [[UInt8]] {
        let length = data.first?.count ?? 0
        precondition(data.count == dataShards && data.allSatisfy { $0.count == length })
        let blocks = data.map { ByteBlock($0) }
        let parity = (0..<parityShards).map { _ in ByteBlock(count: length) }
        withPointers(blocks, parity) { d, p in encode(length: length, data: d, parity: p) }
        return parity.map(\.bytes)
    }
}

/// Runs `body` with the base addresses of `inputs` and `outputs`.
func withPointers<R>(_ inputs: [ByteBlock], _ outputs: [ByteBlock],
                     _ body: ([UnsafeRawPointer], [UnsafeMutableRawPointer]) throws -> R) rethrows -> R {
    // ByteBlock storage never moves, so the addresses stay valid while the blocks live.
    let ins = inputs.map { $0.withUnsafeBytes { UnsafeRawPointer($0.baseAddress!) } }
    let outs = outputs.map { $0.withUnsafeMutableBytes { $0.baseAddress! } }
    return try withExtendedLifetime((inputs, outputs)) { try body(ins, outs) }
}
