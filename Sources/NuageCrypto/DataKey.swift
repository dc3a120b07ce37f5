import Crypto
import Foundation
import NuageCore

/// A random AES-256 key for one object version (or one multipart part): it seals the segments.
///
/// Segment `i` is sealed with AES-256-GCM under the data key, nonce `0⁴ ‖ i` (big-endian),
/// associated data `versionID(16) ‖ i(8) ‖ last(1)`. A data key seals one object version only,
/// so nonces never repeat under a key. Chunks are tagged under a ``ChunkTagKey``: in format 1 one
/// derived from the data key (``derivedTagKey``), in format 2 an independent random key that the
/// gateway holds even when only the customer can unwrap the data key (SSE-C).
public struct DataKey: Sendable {
    public static let tagSize = 16
    let key: SymmetricKey

    /// A fresh random key.
    public static func random() -> DataKey {
        // A 32-byte key always builds.
        try! DataKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    init(bytes: [UInt8]) throws {
        guard bytes.count == 32 else { throw NuageError(.integrity, "a data key is 32 bytes, not \(bytes.count)") }
        key = SymmetricKey(data: bytes)
    }

    init(key: SymmetricKey) { self.key = key }

    var rawBytes: [UInt8] { key.withUnsafeBytes { Array($0) } }

    /// The chunk-tag key of format 1: `HKDF(dataKey, "nuage/v1/chunk-tag")`.
    public var derivedTagKey: ChunkTagKey { ChunkTagKey(key: KeyDerivation.derive(from: key, purpose: "chunk-tag")) }

    /// Seals one segment's plaintext. The sealed segment is `ciphertext ‖ tag(16)`, 16 bytes
    /// longer than the plaintext; it is returned in two pieces to spare a copy.
    public func seal(segment plaintext: UnsafeRawBufferPointer, index: UInt64, isLast: Bool,
                     versionID: [UInt8]) throws -> (ciphertext: Data, tag: Data) {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: Self.segmentNonce(index),
                                       authenticating: Self.segmentContext(versionID, index, isLast))
            return (box.ciphertext, box.tag)
        } catch {
            throw NuageError(.internalError, "sealing segment \(index) failed", cause: error)
        }
    }

    /// Opens one sealed segment (`ciphertext ‖ tag`).
    /// - Throws: `NuageError.integrity` when it does not authenticate: wrong object, wrong
    ///   position, a truncated object or altered bytes.
    public func open(segment sealed: UnsafeRawBufferPointer, index: UInt64, isLast: Bool,
                     versionID: [UInt8]) throws -> Data {
        try open(segmentPieces: [sealed], sealedLength: sealed.count, index: index, isLast: isLast, versionID: versionID)
    }

    /// Opens a sealed segment stored as consecutive pieces (the data chunks of a stripe),
    /// taking the first `sealedLength` bytes of their concatenation; copies them once.
    public func open(segmentPieces pieces: [UnsafeRawBufferPointer], sealedLength: Int, index: UInt64, isLast: Bool,
                     versionID: [UInt8]) throws -> Data {
        guard sealedLength >= Self.tagSize, pieces.reduce(0, { $0 + $1.count }) >= sealedLength else {
            throw NuageError(.integrity, "segment \(index) is shorter than its tag")
        }
        let nonce = Self.segmentNonce(index)
        var combined = Data(capacity: 12 + sealedLength)
        nonce.withUnsafeBytes { combined.append(contentsOf: $0) }
        var remaining = sealedLength
        for piece in pieces where remaining > 0 {
            let count = min(piece.count, remaining)
            combined.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece[..<count]))
            remaining -= count
        }
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key,
                                    authenticating: Self.segmentContext(versionID, index, isLast))
        } catch {
            throw NuageError(.integrity, "segment \(index) failed authentication")
        }
    }

    static func segmentNonce(_ index: UInt64) -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: index.bigEndian) { bytes.replaceSubrange(4..<12, with: $0) }
        return try! AES.GCM.Nonce(data: bytes)
    }

    static func segmentContext(_ versionID: [UInt8], _ index: UInt64, _ isLast: Bool) -> [UInt8] {
        var context = versionID
        withUnsafeBytes(of: index.bigEndian) { context.append(contentsOf: $0) }
        context.append(isLast ? 1 : 0)
        return context
    }
}

/// The key that tags chunks: a GMAC (AES-256-GCM over nothing) with nonce `shard(4) ‖ segment(8)`
/// and the chunk as associated data. Whoever holds it can check every stored byte, and it opens
/// nothing: repair, drain and scrub need only this key, never the data key.
public struct ChunkTagKey: Sendable {
    let key: SymmetricKey

    init(key: SymmetricKey) { self.key = key }

    init(bytes: [UInt8]) throws {
        guard bytes.count == 32 else { throw NuageError(.integrity, "a chunk-tag key is 32 bytes, not \(bytes.count)") }
        key = SymmetricKey(data: bytes)
    }

    /// A fresh random key (format 2).
    public static func random() -> ChunkTagKey { ChunkTagKey(key: SymmetricKey(size: .bits256)) }

    var rawBytes: [UInt8] { key.withUnsafeBytes { Array($0) } }

    /// Computes a chunk's tag into `tag` (16 bytes).
    public func tag(chunk: UnsafeRawBufferPointer, shard: Int, segment: UInt64, into tag: UnsafeMutableRawBufferPointer) {
        precondition(tag.count == DataKey.tagSize)
        // Sealing nothing under a valid key and nonce cannot fail.
        let box = try! AES.GCM.seal(EmptyCollection<UInt8>(), using: key, nonce: Self.chunkNonce(shard, segment),
                                    authenticating: chunk)
        box.tag.withUnsafeBytes { tag.copyMemory(from: $0) }
    }

    /// Whether `tag` is the chunk's tag; compared in constant time.
    public func verify(chunk: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer, shard: Int, segment: UInt64) -> Bool {
        guard tag.count == DataKey.tagSize else { return false }
        var expected = [UInt8](repeating: 0, count: DataKey.tagSize)
        expected.withUnsafeMutableBytes { self.tag(chunk: chunk, shard: shard, segment: segment, into: $0) }
        return ConstantTime.equal(expected, tag)
    }

    static func chunkNonce(_ shard: Int, _ segment: UInt64) -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: UInt32(shard).bigEndian) { bytes.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: segment.bigEndian) { bytes.replaceSubrange(4..<12, with: $0) }
        return try! AES.GCM.Nonce(data: bytes)
    }
}

/// Comparison whose time does not depend on where the inputs differ.
public enum ConstantTime {
    public static func equal(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}
