import Foundation
@testable import NuageCrypto
import NuageCore
import Testing

@Suite struct SecretSharingTests {
    let secret = [UInt8].random(count: 32)

    @Test func anyThresholdOfTheSharesRebuildTheKey() throws {
        let shares = try SecretSharing.split(secret, keyID: 7, count: 5, threshold: 3)
        #expect(Set(shares.map(\.index)) == [1, 2, 3, 4, 5])
        for a in 0..<5 { for b in (a + 1)..<5 { for c in (b + 1)..<5 {
            #expect(try SecretSharing.join([shares[c], shares[a], shares[b]]) == secret, "shares \(a) \(b) \(c)")
        } } }
        // Every line reads back as the same share.
        #expect(try shares.map { try SecretSharing.Share(line: $0.line) } == shares)
    }

    @Test func fewerThanTheThresholdAreRefusedAndTellNothing() throws {
        let shares = try SecretSharing.split(secret, keyID: 7, count: 5, threshold: 3)
        #expect(throws: NuageError.self) { try SecretSharing.join(Array(shares.prefix(2))) }
        // Two shares fit every secret equally: with a made-up third share, a different key comes out.
        var forged = shares[2]
        forged.bytes[0] ^= 1
        #expect(try SecretSharing.join([shares[0], shares[1], forged]) != secret)
        // A share does not contain the key's bytes.
        for share in shares { #expect(share.bytes != secret) }
    }

    @Test func aMistypedShareIsCaughtByItsChecksum() throws {
        let line = try SecretSharing.split(secret, keyID: 0xABCDEF01, count: 3, threshold: 2)[0].line
        #expect(line.hasPrefix("nuage-share-1-abcdef01-2-1-"))
        for position in [30, 40, line.count - 3] {
            var characters = Array(line)
            characters[position] = characters[position] == "0" ? "1" : "0"
            #expect(throws: NuageError.self, "a change at \(position)") { try SecretSharing.Share(line: String(characters)) }
        }
        #expect(throws: NuageError.self) { try SecretSharing.Share(line: "hello") }
    }

    @Test func sharesOfDifferentSplitsOrRepeatedAreRefused() throws {
        let one = try SecretSharing.split(secret, keyID: 7, count: 3, threshold: 2)
        let other = try SecretSharing.split(secret, keyID: 8, count: 3, threshold: 2)
        #expect(throws: NuageError.self) { try SecretSharing.join([one[0], other[1]]) }
        #expect(throws: NuageError.self) { try SecretSharing.join([one[0], one[0]]) }
        #expect(throws: NuageError.self) { try SecretSharing.split(secret, keyID: 7, count: 2, threshold: 3) }
        #expect(throws: NuageError.self) { try SecretSharing.split(secret, keyID: 7, count: 3, threshold: 1) }
    }

    @Test func theFieldIsAField() {
        for a in 1...255 {
            let x = UInt8(a)
            #expect(GF256.multiply(x, GF256.divide(1, x)) == 1)
        }
        #expect(GF256.multiply(0x57, 0x83) == 0xC1, "the AES field's worked example (FIPS 197, 4.2)")
    }
}
