import Crypto
import Foundation
import NuageCore

/// A key that the client sends with every request and the gateway never stores (S3's SSE-C).
///
/// The object's data key is wrapped under `HKDF(customer key, "nuage/v1/sse-c-wrap")` with the
/// version id as associated data, instead of under the master key; only the client can unwrap
/// it. The gateway keeps what AWS keeps: a salted HMAC of the key (``check(versionID:)``, salted
/// by the random version id), so that a wrong key is told apart from damage. Chunks stay tagged
/// under a key the gateway holds (format 2), so repair, drain and scrub never need this key.
///
/// The key bytes live in `SymmetricKey`s, whose storage swift-crypto zeroes when freed.
public struct CustomerKey: Sendable {
    /// The only algorithm SSE-C offers.
    public static let algorithm = "AES256"
    public static let byteCount = 32
    private let wrapKey: SymmetricKey
    private let checkKey: SymmetricKey
    private let etagKey: SymmetricKey
    /// The MD5 of the key (what S3 clients send to prove they typed it right).
    public let keyDigest: [UInt8]
    /// The base64 MD5 of the key, as S3 echoes it in `x-amz-server-side-encryption-customer-key-MD5`.
    public var keyMD5: String { Data(keyDigest).base64EncodedString() }

    /// - Throws: `invalidArgument` unless there are exactly 32 bytes.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw NuageError(.invalidArgument, "a customer key is \(Self.byteCount) bytes, not \(bytes.count)")
        }
        let root = SymmetricKey(data: bytes)
        wrapKey = KeyDerivation.derive(from: root, purpose: "sse-c-wrap")
        checkKey = KeyDerivation.derive(from: root, purpose: "sse-c-check")
        etagKey = KeyDerivation.derive(from: root, purpose: "sse-c-etag")
        keyDigest = Array(Insecure.MD5.hash(data: bytes))
    }

    /// The value stored to recognise this key for one version: HMAC-SHA256 of the version id.
    public func check(versionID: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: versionID, using: checkKey))
    }

    /// Whether `stored` is this key's check for the version; compared in constant time.
    public func matches(_ stored: [UInt8], versionID: [UInt8]) -> Bool {
        ConstantTime.equal(check(versionID: versionID), stored)
    }

    /// Wraps a data key: `nonce(12) ‖ ciphertext(32) ‖ tag(16)`, bound to the version id.
    public func wrap(_ key: DataKey, versionID: [UInt8]) throws -> [UInt8] {
        try AEAD.seal(key.rawBytes, key: wrapKey, context: versionID)
    }

    /// Unwraps a data key.
    /// - Throws: `NuageError.integrity` when it does not authenticate (check the key first with
    ///   ``matches(_:versionID:)``: then a failure here means damage, not a wrong key).
    public func unwrap(_ wrapped: [UInt8], versionID: [UInt8]) throws -> DataKey {
        try DataKey(bytes: AEAD.open(wrapped, key: wrapKey, context: versionID, what: "customer-wrapped data key"))
    }

    /// The ETag of an object stored under this key: S3 does not give SSE-C objects the MD5 of
    /// their plaintext, and neither does Nuage (it would tell the catalog's reader a digest of
    /// data only the client may read). The first 16 bytes of HMAC-SHA256(the plaintext's MD5), in hex.
    public func etag(md5: [UInt8]) -> String {
        Array(HMAC<SHA256>.authenticationCode(for: md5, using: etagKey).prefix(16)).hex
    }
}
