import Crypto
import Foundation
import NuageCore

/// Shamir's secret sharing of the master key over GF(2^8), one byte at a time: any `threshold`
/// of the shares rebuild it; fewer tell nothing about it.
///
/// A share is one line, exactly what ``join(_:)`` reads back:
/// `nuage-share-1-KEYID-T-I-SECRET-CHECK`: the format (1), the master key's public id (8 hex),
/// the threshold, the share's index (1…255), its 32 bytes (64 hex) and a checksum (the first
/// 4 bytes of SHA-256 over everything before it, 8 hex) that catches a mistyped character.
public enum SecretSharing {
    public struct Share: Hashable, Sendable {
        public var keyID: UInt32
        public var threshold: Int
        public var index: UInt8
        public var bytes: [UInt8]

        /// The share as one line.
        public var line: String {
            let body = "nuage-share-1-\(String(format: "%08x", keyID))-\(threshold)-\(index)-\(bytes.hex)"
            return body + "-" + Share.checksum(body)
        }

        static func checksum(_ body: String) -> String { Array(SHA256.hash(data: Data(body.utf8)).prefix(4)).hex }

        /// Reads a line, refusing one that is malformed or whose checksum does not match.
        public init(line: String) throws {
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            let fields = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 8, fields[0] == "nuage", fields[1] == "share", fields[2] == "1" else {
                throw NuageError(.invalidArgument, "not a Nuage key share (a share reads nuage-share-1-…)")
            }
            let body = fields.dropLast().joined(separator: "-")
            guard fields[7].lowercased() == Share.checksum(body) else {
                throw NuageError(.invalidArgument, "share \(fields[5]) does not match its checksum: a character is mistyped")
            }
            guard let keyID = UInt32(fields[3], radix: 16), let threshold = Int(fields[4]), (2...255).contains(threshold),
                  let index = UInt8(fields[5]), index > 0, let bytes = [UInt8](hex: fields[6]), bytes.count == MasterKey.byteCount else {
                throw NuageError(.invalidArgument, "share \(fields[5]) is malformed")
            }
            self.init(keyID: keyID, threshold: threshold, index: index, bytes: bytes)
        }

        public init(keyID: UInt32, threshold: Int, index: UInt8, bytes: [UInt8]) {
            self.keyID = keyID
            self.threshold = threshold
            self.index = index
            self.bytes = bytes
        }
    }

    /// Splits the key's bytes into `count` shares, any `threshold` of which rebuild it.
    public static func split(_ secret: [UInt8], keyID: UInt32, count: Int, threshold: Int) throws -> [Share] {
        guard (2...255).contains(threshold), (threshold...255).contains(count) else {
            throw NuageError(.invalidArgument, "need 2 ≤ threshold ≤ shares ≤ 255, not \(threshold) of \(count)")
        }
        // One random polynomial of degree threshold - 1 per byte, its constant term the byte.
        let coefficients = secret.map { [$0] + [UInt8].random(count: threshold - 1) }
        return (1...count).map { x in
            Share(keyID: keyID, threshold: threshold, index: UInt8(x),
                  bytes: coefficients.map { polynomial in GF256.evaluate(polynomial, at: UInt8(x)) })
        }
    }

    /// Rebuilds the secret from at least `threshold` shares of one split (Lagrange at 0).
    /// - Throws: for shares of different keys or splits, repeated indices, or too few shares.
    public static func join(_ shares: [Share]) throws -> [UInt8] {
        guard let first = shares.first else { throw NuageError(.invalidArgument, "no share given") }
        guard shares.allSatisfy({ $0.keyID == first.keyID && $0.threshold == first.threshold }) else {
            throw NuageError(.invalidArgument, "the shares come from different keys or splits")
        }
        guard Set(shares.map(\.index)).count == shares.count else { throw NuageError(.invalidArgument, "a share is given twice") }
        guard shares.count >= first.threshold else {
            throw NuageError(.invalidArgument, "\(shares.count) share(s) given; \(first.threshold) are needed")
        }
        let used = Array(shares.prefix(first.threshold))
        // Lagrange basis at 0: Π x_j / (x_j - x_i) over j ≠ i; in GF(2^8) subtraction is XOR.
        let weights = used.map { share in
            used.filter { $0.index != share.index }.reduce(UInt8(1)) { product, other in
                GF256.multiply(product, GF256.divide(other.index, other.index ^ share.index))
            }
        }
        return (0..<first.bytes.count).map { position in
            zip(used, weights).reduce(UInt8(0)) { sum, pair in sum ^ GF256.multiply(pair.0.bytes[position], pair.1) }
        }
    }
}

/// GF(2^8) with the AES polynomial x⁸ + x⁴ + x³ + x + 1, through log and exp tables of the
/// generator 3.
enum GF256 {
    static let (exp, log): ([UInt8], [UInt8]) = {
        var exp = [UInt8](repeating: 0, count: 510), log = [UInt8](repeating: 0, count: 256)
        var value: UInt8 = 1
        for power in 0..<255 {
            exp[power] = value
            exp[power + 255] = value
            log[Int(value)] = UInt8(power)
            // value × 3 = value × 2 ⊕ value, reduced by the polynomial.
            let doubled = value << 1 ^ (value & 0x80 != 0 ? 0x1B : 0)
            value = doubled ^ value
        }
        return (exp, log)
    }()

    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        guard a != 0, b != 0 else { return 0 }
        return exp[Int(log[Int(a)]) + Int(log[Int(b)])]
    }

    static func divide(_ a: UInt8, _ b: UInt8) -> UInt8 {
        precondition(b != 0, "division by zero in GF(2^8)")
        guard a != 0 else { return 0 }
        return exp[Int(log[Int(a)]) + 255 - Int(log[Int(b)])]
    }

    /// The polynomial with these coefficients (constant first) at `x` (Horner).
    static func evaluate(_ coefficients: [UInt8], at x: UInt8) -> UInt8 {
        coefficients.reversed().reduce(UInt8(0)) { multiply($0, x) ^ $1 }
    }
}
