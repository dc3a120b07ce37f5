import NuageCore

extension ReedSolomon {
    /// Rebuilds shards from any `k` present ones.
    ///
    /// - Parameters:
    ///   - length: bytes in every shard.
    ///   - shards: `n` entries, `nil` for a shard that is missing or failed its check.
    ///     The first `k` present entries (data shards first) are used.
    ///   - wanted: indices of the shards to rebuild (data or parity).
    ///   - outputs: one buffer of `length` bytes per wanted index.
    /// - Throws: `NuageError.insufficientShards` when fewer than `k` shards are present.
    public func reconstruct(length: Int, shards: [UnsafeRawPointer?], wanted: [Int],
                            into outputs: [UnsafeMutableRawPointer]) throws {
        precondition(shards.count == totalShards && wanted.count == outputs.count)
        precondition(wanted.allSatisfy { (0..<totalShards).contains($0) })
        let survivors = Array(shards.indices.filter { shards[$0] != nil }.prefix(dataShards))
        guard survivors.count == dataShards else {
            throw NuageError(.insufficientShards, "\(survivors.count) of \(totalShards) shards present, \(dataShards) needed")
        }
        guard !wanted.isEmpty else { return }
        let coefficients = try decodeCache.coefficients(survivors: survivors, wanted: wanted) {
            try rebuildRows(survivors: survivors, wanted: wanted)
        }
        GaloisField.dot(kernel: kernel, length: length, coefficients: coefficients,
                        sources: survivors.map { shards[$0]! }, outputs: outputs)
    }

    /// Coefficients taking the survivors to the wanted shards: for a data shard, its row of
    /// the inverted survivor matrix; for a parity shard, its encoding row times that inverse.
    private func rebuildRows(survivors: [Int], wanted: [Int]) throws -> [UInt8] {
        let encoding = encodingMatrix
        guard let inverse = encoding.selecting(rows: survivors).inverted() else {
            throw NuageError(.internalError, "singular decode matrix for shards \(survivors)")
        }
        return wanted.flatMap { index -> [UInt8] in
            if index < dataShards { return Array(inverse.row(index)) }
            let row = GaloisMatrix(rows: 1, columns: dataShards, values: Array(parityRows.row(index - dataShards)))
            return (row * inverse).values
        }
    }

    /// The full `n × k` encoding matrix: identity over the parity rows.
    var encodingMatrix: GaloisMatrix {
        GaloisMatrix(rows: totalShards, columns: dataShards,
                     values: GaloisMatrix.identity(dataShards).values + parityRows.values)
    }

    /// Convenience for tests: fills every `nil` entry of `shards` (all present ones of equal length).
    public func reconstruct(_ shards: inout [[UInt8]?]) throws {
        let length = shards.compactMap { $0 }.first?.count ?? 0
        let wanted = shards.indices.filter { shards[$0] == nil }
        let present = shards.map { $0.map { ByteBlock($0) } }
        let outputs = wanted.map { _ in ByteBlock(count: length) }
        let pointers = present.map { $0?.withUnsafeBytes { UnsafeRawPointer($0.baseAddress!) } }
        try withExtendedLifetime((present, outputs)) {
            let outs = outputs.map { $0.withUnsafeMutableBytes { $0.baseAddress! } }
            try reconstruct(length: length, shards: pointers, wanted: wanted, into: outs)
        }
        for (index, block) in zip(wanted, outputs) { shards[index] = block.bytes }
    }
}
