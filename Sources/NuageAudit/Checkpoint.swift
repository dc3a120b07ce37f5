import Crypto
import Foundation
import NuageCore

/// A signed tree head in the C2SP tlog-checkpoint format: a C2SP signed note whose text is the
/// log's origin, its size, the base64 root hash and one extension line with the time
/// (`time UNIX-SECONDS`), signed with the gateway's Ed25519 audit key.
public struct Checkpoint: Hashable, Sendable {
    public var origin: String
    public var size: Int
    public var root: [UInt8]
    /// Seconds since 1970, when it was signed.
    public var time: Int64

    public init(origin: String, size: Int, root: [UInt8], time: Int64) {
        self.origin = origin
        self.size = size
        self.root = root
        self.time = time
    }

    /// The note text the signature covers (ends with a newline).
    public var text: String { "\(origin)\n\(size)\n\(Data(root).base64EncodedString())\ntime \(time)\n" }

    /// The signed note: text, a blank line, and the signature line.
    public func signed(with key: AuditKey) throws -> String {
        let signature = try key.signing.signature(for: Data(text.utf8))
        return text + "\n\u{2014} \(key.name) \((Data(key.keyID) + signature).base64EncodedString())\n"
    }

    /// Parses a signed note and checks its signature with `key`.
    /// - Throws: when it is malformed or not signed by `key`.
    public static func open(_ note: String, key: AuditKey.Public) throws -> Checkpoint {
        guard let split = note.range(of: "\n\n", options: .backwards) else {
            throw NuageError(.integrity, "checkpoint: not a signed note")
        }
        let text = String(note[..<split.lowerBound]) + "\n"
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        guard lines.count == 4, let size = Int(lines[1]), size >= 0, let root = Data(base64Encoded: lines[2]), root.count == 32,
              lines[3].hasPrefix("time "), let time = Int64(lines[3].dropFirst(5)) else {
            throw NuageError(.integrity, "checkpoint: malformed text")
        }
        let prefix = "\u{2014} \(key.name) "
        let signatures = note[split.upperBound...].split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
        guard let line = signatures.first, let blob = Data(base64Encoded: String(line.dropFirst(prefix.count))), blob.count == 68,
              Array(blob.prefix(4)) == key.keyID,
              key.verifying.isValidSignature(blob.dropFirst(4), for: Data(text.utf8)) else {
            throw NuageError(.integrity, "checkpoint of size \(size): the signature does not verify with \(key.name)")
        }
        return Checkpoint(origin: lines[0], size: size, root: Array(root), time: time)
    }
}

/// The gateway's Ed25519 key for signing audit checkpoints, named `nuage-audit/ID` (ID: the
/// first 8 bytes of SHA-256 of the public key, in hex).
public struct AuditKey: Sendable {
    public struct Public: Sendable, Hashable {
        public let raw: [UInt8]
        public var verifying: Curve25519.Signing.PublicKey { try! Curve25519.Signing.PublicKey(rawRepresentation: raw) }
        public var name: String { "nuage-audit/" + Array(SHA256.hash(data: raw).prefix(8)).hex }
        /// C2SP signed-note key id: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), first 4 bytes.
        public var keyID: [UInt8] { Array(SHA256.hash(data: Array(name.utf8) + [0x0A, 0x01] + raw).prefix(4)) }
        /// The verifier key as C2SP tools read it: `NAME+KEYID+base64(0x01 ‖ public key)`.
        public var verifierKey: String { "\(name)+\(keyID.hex)+\(Data([0x01] + raw).base64EncodedString())" }

        public init(raw: [UInt8]) throws {
            _ = try Curve25519.Signing.PublicKey(rawRepresentation: raw)
            self.raw = raw
        }

        public init(verifierKey: String) throws {
            let parts = verifierKey.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2).map(String.init)
            guard parts.count == 3, let blob = Data(base64Encoded: parts[2]), blob.count == 33, blob.first == 0x01 else {
                throw NuageError(.invalidArgument, "not an Ed25519 verifier key")
            }
            try self.init(raw: Array(blob.dropFirst()))
            guard name == parts[0], keyID.hex == parts[1] else { throw NuageError(.invalidArgument, "the verifier key's name or id does not match its key") }
        }
    }

    let signing: Curve25519.Signing.PrivateKey
    public let publicKey: Public
    public var name: String { publicKey.name }
    public var keyID: [UInt8] { publicKey.keyID }

    public init(raw: [UInt8]) throws {
        signing = try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        publicKey = try Public(raw: Array(signing.publicKey.rawRepresentation))
    }

    /// Reads the key file, creating it (mode 0600) on first use.
    public static func loadOrCreate(at path: String) throws -> AuditKey {
        if let data = FileManager.default.contents(atPath: path) { return try AuditKey(raw: Array(data)) }
        let raw = Array(Curve25519.Signing.PrivateKey().rawRepresentation)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if let data = FileManager.default.contents(atPath: path) { return try AuditKey(raw: Array(data)) }  // created meanwhile
            throw NuageError(.configuration, "cannot create the audit key \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        guard raw.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == raw.count, fsync(fd) == 0 else {
            throw NuageError(.configuration, "cannot write the audit key \(path)")
        }
        return try AuditKey(raw: raw)
    }
}
