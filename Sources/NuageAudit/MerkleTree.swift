import Crypto
import Foundation

/// RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing over an append-only list of
/// records: leaf hash SHA-256(0x00 ‖ record), node hash SHA-256(0x01 ‖ left ‖ right), the
/// tree of `n` leaves split at the largest power of two below `n` (RFC 9162, 2.1.1), and its
/// inclusion (2.1.3) and consistency (2.1.4) proofs.
public enum MerkleTree {
    public typealias Hash = [UInt8]

    public static func leafHash(_ record: [UInt8]) -> Hash { Array(SHA256.hash(data: [0] + record)) }

    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash { Array(SHA256.hash(data: [1] + left + right)) }

    /// The root of the tree over these leaf hashes (the hash of the empty string for none).
    public static func root(_ leaves: ArraySlice<Hash>) -> Hash {
        switch leaves.count {
        case 0: return Array(SHA256.hash(data: [UInt8]()))
        case 1: return leaves.first!
        default:
            let split = largestPowerOfTwo(below: leaves.count)
            return nodeHash(root(leaves.prefix(split)), root(leaves.dropFirst(split)))
        }
    }

    public static func root(_ leaves: [Hash]) -> Hash { root(leaves[...]) }

    /// The audit path of leaf `index` in the tree of `leaves` (RFC 9162 PATH).
    public static func inclusionProof(_ index: Int, _ leaves: ArraySlice<Hash>) -> [Hash] {
        guard leaves.count > 1 else { return [] }
        let split = largestPowerOfTwo(below: leaves.count)
        return index < split
            ? inclusionProof(index, leaves.prefix(split)) + [root(leaves.dropFirst(split))]
            : inclusionProof(index - split, leaves.dropFirst(split)) + [root(leaves.prefix(split))]
    }

    /// The consistency proof from the tree of the first `size` leaves to the tree of all of them
    /// (RFC 9162 PROOF).
    public static func consistencyProof(_ size: Int, _ leaves: ArraySlice<Hash>) -> [Hash] {
        subproof(size, leaves, complete: true)
    }

    private static func subproof(_ m: Int, _ leaves: ArraySlice<Hash>, complete: Bool) -> [Hash] {
        let n = leaves.count
        if m == n { return complete ? [] : [root(leaves)] }
        let k = largestPowerOfTwo(below: n)
        return m <= k
            ? subproof(m, leaves.prefix(k), complete: complete) + [root(leaves.dropFirst(k))]
            : subproof(m - k, leaves.dropFirst(k), complete: false) + [root(leaves.prefix(k))]
    }

    /// Checks an inclusion proof (RFC 9162, 2.1.3.2).
    public static func verifyInclusion(leaf: Hash, index: Int, size: Int, proof: [Hash], root expected: Hash) -> Bool {
        guard index < size else { return false }
        var fn = index, sn = size - 1, r = leaf
        for p in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 { while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 } }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == expected
    }

    /// Checks a consistency proof between two tree heads (RFC 9162, 2.1.4.2).
    public static func verifyConsistency(first: Int, second: Int, firstRoot: Hash, secondRoot: Hash, proof: [Hash]) -> Bool {
        guard first <= second else { return false }
        if first == second { return proof.isEmpty && firstRoot == secondRoot }
        if first == 0 { return proof.isEmpty }
        guard !proof.isEmpty else { return false }
        var path = proof
        if first & (first - 1) == 0 { path.insert(firstRoot, at: 0) }  // a power of two: the first root starts the path
        var fn = first - 1, sn = second - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 { while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 } }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && fr == firstRoot && sr == secondRoot
    }

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func largestPowerOfTwo(below n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }
}
