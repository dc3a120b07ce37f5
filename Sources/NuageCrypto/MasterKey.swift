import Crypto
import Foundation
import NuageCore

/// The customer's master key: 32 random bytes in a file (`master.key`) that never leaves the
/// gateway's machine, or a non-extractable AES-256 key inside a token (an HSM over PKCS#11).
///
/// Everything else is derived from it or wrapped under it: data keys are wrapped (AES-256-GCM)
/// under a key derived for wrapping (file) or by the token itself, with the master key
/// (token); shard blob headers are sealed under a key derived for headers, the catalog journal
/// kept at providers under a key derived for it, and S3 secret keys under a key derived for
/// secrets (HKDF-SHA256 from a file key, SP 800-108 AES-CMAC inside a token; one label per
/// purpose). The ``id`` names the key in manifests so that rotation can tell which key wrapped what.
public struct MasterKey: Sendable {
    public static let byteCount = 32

    /// What wraps data keys: a key in memory, or the token (with its cache of unwrapped keys).
    private enum Wrapping: Sendable {
        case software(SymmetricKey)
        case token(any MasterKeyToken, UnwrappedKeyCache)
    }

    private let wrapping: Wrapping
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
        wrapping = .software(KeyDerivation.derive(from: root, purpose: "data-key-wrap"))
        headerKey = KeyDerivation.derive(from: root, purpose: "shard-header")
        secretKey = KeyDerivation.derive(from: root, purpose: "access-secret")
        journalKey = KeyDerivation.derive(from: root, purpose: "catalog-journal")
        let idKey = KeyDerivation.derive(from: root, purpose: "key-id")
        id = idKey.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self).bigEndian }
    }

    /// The master key inside a token. Data and chunk-tag keys are wrapped and unwrapped by the
    /// token (unwrapped ones are cached within `cache`'s limits); the header, journal, secret
    /// and key-id sub-keys are derived inside it once, here, and kept in memory.
    /// - Throws: `NuageError.keyUnavailable` when the token cannot be reached.
    public init(token: any MasterKeyToken, cache: UnwrappedKeyCache = UnwrappedKeyCache()) throws {
        wrapping = .token(token, cache)
        headerKey = try token.derive(purpose: "shard-header")
        secretKey = try token.derive(purpose: "access-secret")
        journalKey = try token.derive(purpose: "catalog-journal")
        id = try token.derive(purpose: "key-id").withUnsafeBytes { $0.loadUnaligned(as: UInt32.self).bigEndian }
        tokenName = token.name
    }

    /// Checks that the key can be used now: nothing to do for a key file, one token call for a
    /// token (readiness).
    /// - Throws: `NuageError.keyUnavailable` when the token does not answer.
    public func probe() throws {
        if case .token(let token, _) = wrapping { _ = try token.cmac(Array("nuage/v1/probe".utf8)) }
    }

    /// ``probe()`` off the caller's thread (a token that hangs holds no cooperative thread).
    public func probe() async throws {
        guard case .token = wrapping else { return }
        try await TokenThread.run { try self.probe() }
    }

    // The async forms below do what their synchronous namesakes do (called from a closure, a
    // synchronous context, so that the synchronous form is the one chosen); a call that needs
    // the token (not a key file, not a cached key) runs on the token's own thread.

    public func wrap(_ key: DataKey, context: [UInt8]) async throws -> [UInt8] {
        guard case .token = wrapping else { return try { try self.wrap(key, context: context) }() }
        return try await TokenThread.run { try self.wrap(key, context: context) }
    }

    public func unwrap(_ wrapped: [UInt8], context: [UInt8]) async throws -> DataKey {
        guard needsToken(wrapped, context: context) else { return try { try self.unwrap(wrapped, context: context) }() }
        return try await TokenThread.run { try self.unwrap(wrapped, context: context) }
    }

    public func wrap(_ key: ChunkTagKey, versionID: [UInt8]) async throws -> [UInt8] {
        guard case .token = wrapping else { return try { try self.wrap(key, versionID: versionID) }() }
        return try await TokenThread.run { try self.wrap(key, versionID: versionID) }
    }

    public func unwrapTagKey(_ wrapped: [UInt8], versionID: [UInt8]) async throws -> ChunkTagKey {
        guard needsToken(wrapped, context: versionID + Self.tagKeyLabel) else {
            return try { try self.unwrapTagKey(wrapped, versionID: versionID) }()
        }
        return try await TokenThread.run { try self.unwrapTagKey(wrapped, versionID: versionID) }
    }

    private func needsToken(_ wrapped: [UInt8], context: [UInt8]) -> Bool {
        guard case .token(_, let cache) = wrapping else { return false }
        return !cache.contains(wrapped: wrapped, context: context)
    }

    /// The token's `pkcs11:` URI when the key is in one; nil for a key file.
    public private(set) var tokenName: String?

    /// The token's cache of unwrapped keys; nil for a key file.
    public var unwrappedKeyCache: UnwrappedKeyCache? {
        if case .token(_, let cache) = wrapping { return cache }
        return nil
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
        try wrap(key.key, context: context)
    }

    /// Unwraps a data key.
    /// - Throws: `NuageError.integrity` when the bytes or the context do not authenticate.
    public func unwrap(_ wrapped: [UInt8], context: [UInt8]) throws -> DataKey {
        DataKey(key: try unwrap(wrapped, context: context, what: "wrapped data key"))
    }

    /// Wraps a chunk-tag key (format 2), bound to the version id; the label in the associated data
    /// keeps a wrapped tag key from passing for a wrapped data key.
    public func wrap(_ key: ChunkTagKey, versionID: [UInt8]) throws -> [UInt8] {
        try wrap(key.key, context: versionID + Self.tagKeyLabel)
    }

    /// Unwraps a chunk-tag key.
    /// - Throws: `NuageError.integrity` when the bytes or the version id do not authenticate.
    public func unwrapTagKey(_ wrapped: [UInt8], versionID: [UInt8]) throws -> ChunkTagKey {
        ChunkTagKey(key: try unwrap(wrapped, context: versionID + Self.tagKeyLabel, what: "wrapped chunk-tag key"))
    }

    static let tagKeyLabel = Array("nuage/v2/chunk-tag".utf8)

    /// `nonce(12) ‖ ciphertext(32) ‖ tag(16)`, under the wrap key or by the token.
    private func wrap(_ key: SymmetricKey, context: [UInt8]) throws -> [UInt8] {
        switch wrapping {
        case .software(let wrapKey):
            return try key.withUnsafeBytes { try AEAD.seal(Array($0), key: wrapKey, context: context) }
        case .token(let token, _):
            let nonce = Array(AES.GCM.Nonce())
            return nonce + (try key.withUnsafeBytes { try token.seal(Array($0), nonce: nonce, associatedData: context) })
        }
    }

    private func unwrap(_ wrapped: [UInt8], context: [UInt8], what: String) throws -> SymmetricKey {
        switch wrapping {
        case .software(let wrapKey):
            var bytes = try AEAD.open(wrapped, key: wrapKey, context: context, what: what)
            defer { for index in bytes.indices { bytes[index] = 0 } }
            guard bytes.count == 32 else { throw NuageError(.integrity, "\(what) is not 32 bytes") }
            return SymmetricKey(data: bytes)
        case .token(let token, let cache):
            guard wrapped.count == 12 + 32 + 16 else { throw NuageError(.integrity, "\(what) is \(wrapped.count) bytes, not 60") }
            return try cache.key(wrapped: wrapped, context: context) {
                var bytes = try token.open(Array(wrapped[12...]), nonce: Array(wrapped[..<12]), associatedData: context)
                defer { for index in bytes.indices { bytes[index] = 0 } }
                guard bytes.count == 32 else { throw NuageError(.integrity, "\(what) is not 32 bytes") }
                return SymmetricKey(data: bytes)
            }
        }
    }

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
