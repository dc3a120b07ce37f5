import Crypto
import Foundation
import NuageCore

/// A named key of the gateway's key service (S3's SSE-KMS): 32 random bytes, kept in the
/// catalog wrapped under the master key (so inside the HSM's protection when the master key is
/// in one), that wrap the data keys of the objects stored under it.
///
/// An object's data key is wrapped under `HKDF(KMS key, "nuage/v1/kms-wrap")` with the version id
/// as associated data, like a client's key (SSE-C) but held by the gateway. Destroying the KMS
/// key (its wrapped bytes erased from the catalog and from the journal at providers) leaves every
/// such data key, and so every object under it, unreadable: crypto-shredding. Chunks stay tagged
/// under a key wrapped by the master key (format 3), so repair, drain and scrub keep working
/// on a disabled key's objects, and gc can still tell their blobs apart.
public struct KMSKey: Sendable {
    public static let byteCount = 32
    /// The key's random id (16 bytes), bound into its wrapping and named in manifests.
    public let id: [UInt8]
    private let wrapKey: SymmetricKey

    /// - Throws: `integrity` unless there are exactly 32 bytes.
    public init(id: [UInt8], bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw NuageError(.integrity, "a KMS key is \(Self.byteCount) bytes, not \(bytes.count)")
        }
        self.id = id
        wrapKey = KeyDerivation.derive(from: SymmetricKey(data: bytes), purpose: "kms-wrap")
    }

    init(id: [UInt8], key: SymmetricKey) {
        self.id = id
        wrapKey = KeyDerivation.derive(from: key, purpose: "kms-wrap")
    }

    /// Fresh random key material with a fresh id (what `nuage kms create` makes).
    public static func random() -> (id: [UInt8], material: SymmetricKey) {
        ([UInt8].random(count: 16), SymmetricKey(size: .bits256))
    }

    /// Wraps a data key: `nonce(12) ‖ ciphertext(32) ‖ tag(16)`, bound to the version id.
    public func wrap(_ key: DataKey, versionID: [UInt8]) throws -> [UInt8] {
        try AEAD.seal(key.rawBytes, key: wrapKey, context: versionID)
    }

    /// Unwraps a data key.
    /// - Throws: `NuageError.integrity` when it does not authenticate.
    public func unwrap(_ wrapped: [UInt8], versionID: [UInt8]) throws -> DataKey {
        try DataKey(bytes: AEAD.open(wrapped, key: wrapKey, context: versionID, what: "KMS-wrapped data key"))
    }
}

extension MasterKey {
    static func kmsKeyContext(_ id: [UInt8]) -> [UInt8] { Array("nuage/v3/kms-key".utf8) + id }

    /// Wraps a KMS key's material, bound to its id (a label keeps it from passing for a data key).
    public func wrapKMSKey(_ material: SymmetricKey, id: [UInt8]) async throws -> [UInt8] {
        try await wrap(DataKey(key: material), context: Self.kmsKeyContext(id))
    }

    /// A KMS key's material, wrapped by `older` (a master key rotated out), wrapped under this one.
    public func rewrapKMSKey(_ wrapped: [UInt8], id: [UInt8], from older: MasterKey) async throws -> [UInt8] {
        try await wrap(try await older.unwrap(wrapped, context: Self.kmsKeyContext(id)), context: Self.kmsKeyContext(id))
    }

    /// Unwraps a KMS key.
    /// - Throws: `integrity` when the bytes or the id do not authenticate.
    public func unwrapKMSKey(_ wrapped: [UInt8], id: [UInt8]) async throws -> KMSKey {
        KMSKey(id: id, key: try await unwrap(wrapped, context: Self.kmsKeyContext(id)).key)
    }
}
