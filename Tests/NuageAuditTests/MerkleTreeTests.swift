import Foundation
@testable import NuageAudit
import NuageCore
import Testing

@Suite struct MerkleTreeTests {
    let leaves = (0..<33).map { MerkleTree.leafHash(Array("record \($0)".utf8)) }

    @Test func everyInclusionProofVerifiesAndATamperedOneDoesNot() {
        for size in 1...leaves.count {
            let tree = leaves.prefix(size), root = MerkleTree.root(tree)
            for index in 0..<size {
                let proof = MerkleTree.inclusionProof(index, tree)
                #expect(MerkleTree.verifyInclusion(leaf: leaves[index], index: index, size: size, proof: proof, root: root), "\(index) in \(size)")
                #expect(!MerkleTree.verifyInclusion(leaf: leaves[(index + 1) % leaves.count], index: index, size: size, proof: proof, root: root)
                        || size == 1 && leaves[(index + 1) % leaves.count] == leaves[index])
                if var first = proof.first {
                    first[0] ^= 1
                    #expect(!MerkleTree.verifyInclusion(leaf: leaves[index], index: index, size: size, proof: [first] + proof.dropFirst(), root: root))
                }
            }
        }
    }

    @Test func everyConsistencyProofVerifiesAndAForkDoesNot() {
        for second in 1...leaves.count {
            let secondRoot = MerkleTree.root(leaves.prefix(second))
            for first in 1...second {
                let proof = MerkleTree.consistencyProof(first, leaves.prefix(second))
                let firstRoot = MerkleTree.root(leaves.prefix(first))
                #expect(MerkleTree.verifyConsistency(first: first, second: second, firstRoot: firstRoot, secondRoot: secondRoot, proof: proof),
                        "\(first) → \(second)")
                // A first tree whose last record differs is not a prefix of the second.
                var forked = Array(leaves.prefix(first))
                forked[first - 1] = MerkleTree.leafHash([9, 9])
                if first < second {
                    #expect(!MerkleTree.verifyConsistency(first: first, second: second, firstRoot: MerkleTree.root(forked),
                                                          secondRoot: secondRoot, proof: proof))
                }
            }
        }
    }

    @Test func hashesFollowRFC9162() {
        // The empty tree is SHA-256 of nothing; leaves and nodes are domain-separated.
        #expect(MerkleTree.root([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(MerkleTree.leafHash([]).hex == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        #expect(MerkleTree.root(Array(leaves.prefix(3))) == MerkleTree.nodeHash(MerkleTree.nodeHash(leaves[0], leaves[1]), leaves[2]))
    }
}
