import Crypto
import Foundation
import Hummingbird
import NIOCore
import NuageCore
import NuageEngine
import NuageSigV4

/// An S3 request body as the engine reads it: aws-chunked framing removed (and chunk
/// signatures checked), and, at the end, every digest the client sent checked: the payload
/// SHA-256 and `x-amz-checksum-*` from a header or a trailer when the body ends, `Content-MD5`
/// against the MD5 the engine computes for the ETag. A mismatch throws before the engine
/// commits, so nothing is stored.
final class RequestObjectBody: ObjectBody, @unchecked Sendable {
    // Read by the one task running the put; never shared.
    private var iterator: RequestBody.AsyncIterator
    private var decoder: AWSChunkedDecoder?
    /// The last buffer received of a plain body, consumed from its reader index.
    private var received = ByteBuffer()
    /// Decoded bytes of an aws-chunked body.
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    private var sha256: SHA256?
    private let expectedSHA256: String?
    private let expectedMD5: String?
    private var checksum: (algorithm: ChecksumAlgorithm, hasher: any ChecksumHasher, expected: String?)?
    private var finished = false
    /// Checksums verified at the end, by header name, to store and return.
    private(set) var verifiedChecksums: [String: String] = [:]

    init(body: RequestBody, decoder: AWSChunkedDecoder?, expectedSHA256: String?, expectedMD5: String?,
         checksum: (algorithm: ChecksumAlgorithm, value: String?)?) {
        iterator = body.makeAsyncIterator()
        self.decoder = decoder
        self.expectedSHA256 = expectedSHA256
        sha256 = expectedSHA256 == nil ? nil : SHA256()
        self.expectedMD5 = expectedMD5
        self.checksum = checksum.map { ($0.algorithm, $0.algorithm.hasher(), $0.value) }
    }

    var trailingMetadata: [String: String] { verifiedChecksums }

    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        while true {
            // A plain body is copied straight from the buffer NIO received it in.
            if received.readableBytes > 0 {
                let n = min(buffer.count, received.readableBytes)
                received.withUnsafeReadableBytes { consume(UnsafeRawBufferPointer(rebasing: $0[..<n]), into: buffer) }
                received.moveReaderIndex(forwardBy: n)
                return n
            }
            if pendingOffset < pending.count {
                let n = min(buffer.count, pending.count - pendingOffset)
                pending.withUnsafeBytes { consume(UnsafeRawBufferPointer(rebasing: $0[pendingOffset..<(pendingOffset + n)]), into: buffer) }
                pendingOffset += n
                return n
            }
            if finished { return 0 }
            guard let next = try await iterator.next() else {
                try finish()
                return 0
            }
            guard decoder != nil else {
                received = next
                continue
            }
            pending.removeAll(keepingCapacity: true)
            pendingOffset = 0
            do {
                try next.withUnsafeReadableBytes { try decoder!.decode($0, into: &pending) }
            } catch {
                throw Self.s3Error(error)
            }
        }
    }

    /// Copies decoded body bytes out, through every digest being checked.
    private func consume(_ piece: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer) {
        buffer.copyMemory(from: piece)
        sha256?.update(bufferPointer: piece)
        checksum?.hasher.update(piece)
    }

    private func finish() throws {
        finished = true
        if decoder != nil {
            do { try decoder!.finish() } catch { throw Self.s3Error(error) }
        }
        if let expectedSHA256, let sha256 {
            guard Array(sha256.finalize()).hex == expectedSHA256.lowercased() else {
                throw S3Error(.xAmzContentSHA256Mismatch)
            }
        }
        if let checksum {
            let actual = checksum.hasher.finalBase64()
            let expected = checksum.expected ?? decoder?.trailers[checksum.algorithm.headerName]
            guard let expected else {
                throw S3Error(.invalidRequest, "The \(checksum.algorithm.headerName) trailer was declared but not sent.")
            }
            guard expected == actual else {
                throw S3Error(.badDigest, "The \(checksum.algorithm.rawValue.uppercased()) checksum you specified did not match the calculated checksum.")
            }
            verifiedChecksums[checksum.algorithm.headerName] = actual
        }
    }

    var checksMD5: Bool { expectedMD5 != nil }

    /// `Content-MD5`, checked against the engine's own MD5 of the body (no second pass).
    func verify(md5: [UInt8]) throws {
        if let expectedMD5, Data(md5).base64EncodedString() != expectedMD5 {
            throw S3Error(.badDigest, "The Content-MD5 you specified did not match what we received.")
        }
    }

    static func s3Error(_ error: any Error) -> any Error {
        guard let error = error as? SigV4Error else { return error }
        switch error {
        case .payloadMismatch: return S3Error(.signatureDoesNotMatch, "A chunk or trailer signature does not match.")
        case .malformed(let why): return S3Error(.incompleteBody, "Malformed aws-chunked body: \(why)")
        default: return S3Error(.signatureDoesNotMatch)
        }
    }
}
