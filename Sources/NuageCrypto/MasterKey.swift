import Crypto
import Foundation
import NuageCore

/// The customer's master key: 32 random bytes that never leave the gateway's machine.
///
/// Everything else is derived from it or wrapped under it: data keys are wrapped (AES-256-GCM)
/// under a key derived for wrapping, shard blob headers under a key derived for headers,
/// the catalog journal kept at providers under a key derived for it, and S3 secret keys under a
/// key derived for secrets (HKDF-SHA256, one label per purpose). The ``id`` names the key in manifests so that
/// rotation can tell which key wrapped what.
public struct MasterKey: Sendable {
    public static let byteCount = 32

    private let wrapKey: SymmetricKey
    private let headerKey: SymmetricKey
    private let secretKey: SymmetricKey
    private let journalKey: SymmetricKey
    /// A short public identifier of this key (not secret: derived one-way).
    public let id: UInt32

    /// Wraps raw key bytes.
    /// - Throws: `NuageError.configuration` unless there are exactly 32 bytes.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw NuageError(.configuration, "a master key is \(Self.byteCount) bytes, not \(bytes.count)")
        }
        let root = SymmetricKey(data: bytes)
        wrapKey = KeyDerivation.derive(from: root, purpose: "data-key-wrap")
        headerKey = KeyDerivation.derive(from: root, purpose: "shard-header")
        secretKey = KeyDerivation.derive(from: root, purpose: "access-secret")
        journalKey = KeyDerivation.derive(from: root, purpose: "catalog-journal")
        let idKey = KeyDerivation.derive(from: root, purpose: "key-id")
        id = idKey.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self).bigEndian }
    }

    /// Reads the key file.
    /// - Throws: `NuageError.configuration` when it is missing, unreadable, the wrong size, or
    ///   readable by other users.
    public static func load(from path: String) throws -> MasterKey {
        try MasterKey(bytes: try loadBytes(from: path))
    }

    /// The key file's 32 bytes (to split into shares), with the checks of ``load(from:)``.
    public static func loadBytes(from path: String) throws -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw NuageError(.configuration, "cannot read master key \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw NuageError(.configuration, "master key \(path) is accessible to other users (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 on it")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NuageError(.configuration, "cannot read master key \(path)")
        }
        guard data.count == byteCount else {
            throw NuageError(.configuration, "a master key is \(byteCount) bytes, not \(data.count)")
        }
        return Array(data)
    }

    /// Creates a new random key file with mode 0600; refuses to overwrite an existing one.
    /// - Throws: `NuageError.configuration` when the file exists or cannot be written.
    @discardableResult
    public static func create(at path: String) throws -> MasterKey {
        try create(at: path, bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// Writes a key file with these bytes (a key joined from shares), mode 0600; refuses to
    /// overwrite an existing file.
    @discardableResult
    public static func create(at path: String, bytes: [UInt8]) throws -> MasterKey {
        let key = try MasterKey(bytes: bytes)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw NuageError(.configuration, "cannot create master key \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw NuageError(.configuration, "cannot write master key \(path): \(String(cString: strerror(errno)))")
        }
        return key
    }

    /// Wraps a data key: `nonce(12) ‖ ciphertext(32) ‖ tag(16)`, bound to `context`.
    public func wrap(_ key: DataKey, context: [UInt8]) throws -> [UInt8] {
        try AEAD.seal(key.rawBytes, key: wrapKey, context: context)
    }

    /// Unwraps a data key.
    /// - Throws: `NuageError.integrity` when the bytes or the context do not authenticate.
    public func unwrap(_ wrapped: [UInt8], context: [UInt8]) throws -> DataKey {
        try DataKey(bytes: AEAD.open(wrapped, key: wrapKey, context: context, what: "wrapped data key"))
    }

    /// Wraps a chunk-tag key (format 2), bound to the version id; the label in the associated data
    /// keeps a wrapped tag key from passing for a wrapped data key.
    public func wrap(_ key: ChunkTagKey, versionID: [UInt8]) throws -> [UInt8] {
        try AEAD.seal(key.rawBytes, key: wrapKey, context: versionID + Self.tagKeyLabel)
    }

    /// Unwraps a chunk-tag key.
    /// - Throws: `NuageError.integrity` when the bytes or the version id do not authenticate.
    public func unwrapTagKey(_ wrapped: [UInt8], versionID: [UInt8]) throws -> ChunkTagKey {
        try ChunkTagKey(bytes: AEAD.open(wrapped, key: wrapKey, context: versionID + Self.tagKeyLabel, what: "wrapped chunk-tag key"))
    }

    static let tagKeyLabel = Array("nuage/v2/chunk-tag".utf8)

    /// Seals an S3 secret key for the catalog, bound to its access key id.
    public func sealSecret(_ secret: String, accessKey: String) throws -> [UInt8] {
        try AEAD.seal(Array(secret.utf8), key: secretKey, context: Array(accessKey.utf8))
    }

    /// Opens a sealed S3 secret key.
    /// - Throws: `NuageError.integrity` when it does not authenticate.
    public func openSecret(_ sealed: [UInt8], accessKey: String) throws -> String {
        String(decoding: try AEAD.open(sealed, key: secretKey, context: Array(accessKey.utf8), what: "access secret"), as: UTF8.self)
    }

    /// Seals a catalog journal segment or snapshot kept at providers.
    public func sealJournal(_ body: [UInt8], context: [UInt8]) throws -> [UInt8] {
        try AEAD.seal(body, key: journalKey, context: context)
    }

    /// Opens a catalog journal segment or snapshot.
    /// - Throws: `NuageError.integrity` when it does not authenticate.
    public func openJournal(_ sealed: [UInt8], context: [UInt8]) throws -> [UInt8] {
        try AEAD.open(sealed, key: journalKey, context: context, what: "catalog journal")
    }

    /// Seals a shard blob header body: `nonce(12) ‖ ciphertext ‖ tag(16)`.
    public func sealHeader(_ body: [UInt8], context: [UInt8]) throws -> [UInt8] {
        try AEAD.seal(body, key: headerKey, context: context)
    }

    /// Opens a shard blob header body.
    /// - Throws: `NuageError.integrity` when it does not authenticate.
    public func openHeader(_ sealed: [UInt8], context: [UInt8]) throws -> [UInt8] {
        try AEAD.open(sealed, key: headerKey, context: context, what: "shard header")
    }
}

/// AES-256-GCM with a random nonce carried in front, for small values (keys, headers).
enum AEAD {
    static let overhead = 12 + 16

    static func seal(_ plaintext: [UInt8], key: SymmetricKey, context: [UInt8]) throws -> [UInt8] {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(), authenticating: context)
            return Array(box.nonce) + Array(box.ciphertext) + Array(box.tag)
        } catch {
            throw NuageError(.internalError, "sealing failed", cause: error)
        }
    }

    static func open(_ sealed: [UInt8], key: SymmetricKey, context: [UInt8], what: String) throws -> [UInt8] {
        guard sealed.count >= overhead else { throw NuageError(.integrity, "\(what) is too short") }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key, authenticating: context))
        } catch {
            throw NuageError(.integrity, "\(what) failed authentication")
        }
    }
}

/// HKDF-SHA256 sub-keys, one per purpose, labelled `nuage/v1/<purpose>`.
enum KeyDerivation {
    static func derive(from key: SymmetricKey, purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Array("nuage/v1/\(purpose)".utf8), outputByteCount: 32)
    }
}
