import Crypto
import Foundation
import Hummingbird
import NuageCore
import NuageEngine
import NuageSigV4

/// An S3 request body as the engine reads it: aws-chunked framing removed (and chunk
/// signatures checked), and, at the end, every digest the client sent checked: the payload
/// SHA-256, `Content-MD5`, and `x-amz-checksum-*` from a header or a trailer. A mismatch
/// throws at the end of the body, before the engine commits, so nothing is stored.
final class RequestObjectBody: ObjectBody, @unchecked Sendable {
    // Read by the one task running the put; never shared.
    private var iterator: RequestBody.AsyncIterator
    private var decoder: AWSChunkedDecoder?
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    private var md5: Insecure.MD5?
    private var sha256: SHA256?
    private let expectedSHA256: String?
    private let expectedMD5: String?
    private var checksum: (algorithm: ChecksumAlgorithm, hasher: any ChecksumHasher, expected: String?)?
    private var finished = false
    /// Checksums verified at the end, by header name, to store and return.
    private(set) var verifiedChecksums: [String: String] = [:]

    init(body: RequestBody, decoder: AWSChunkedDecoder?, expectedSHA256: String?, expectedMD5: String?,
         checksum: (ChecksumAlgorithm, String?)?) {
        iterator = body.makeAsyncIterator()
        self.decoder = decoder
        self.expectedSHA256 = expectedSHA256
        sha256 = expectedSHA256 == nil ? nil : SHA256()
        self.expectedMD5 = expectedMD5
        md5 = expectedMD5 == nil ? nil : Insecure.MD5()
        self.checksum = checksum.map { ($0.0, $0.0.hasher(), $0.1) }
    }

    var trailingMetadata: [String: String] { verifiedChecksums }

    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        while pendingOffset == pending.count {
            if finished { return 0 }
            guard let next = try await iterator.next() else {
                try finish()
                return 0
            }
            pending.removeAll(keepingCapacity: true)
            pendingOffset = 0
            if decoder != nil {
                do {
                    try next.withUnsafeReadableBytes { try decoder!.decode($0, into: &pending) }
                } catch {
                    throw Self.s3Error(error)
                }
            } else {
                next.withUnsafeReadableBytes { pending.append(contentsOf: $0) }
            }
        }
        let n = min(buffer.count, pending.count - pendingOffset)
        pending.withUnsafeBytes { source in
            let piece = UnsafeRawBufferPointer(rebasing: source[pendingOffset..<(pendingOffset + n)])
            buffer.copyMemory(from: piece)
            md5?.update(bufferPointer: piece)
            sha256?.update(bufferPointer: piece)
            checksum?.hasher.update(piece)
        }
        pendingOffset += n
        return n
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
        if let expectedMD5, let md5, Data(md5.finalize()).base64EncodedString() != expectedMD5 {
            throw S3Error(.badDigest, "The Content-MD5 you specified did not match what we received.")
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

    static func s3Error(_ error: any Error) -> any Error {
        guard let error = error as? SigV4Error else { return error }
        switch error {
        case .payloadMismatch: return S3Error(.signatureDoesNotMatch, "A chunk or trailer signature does not match.")
        case .malformed(let why): return S3Error(.incompleteBody, "Malformed aws-chunked body: \(why)")
        default: return S3Error(.signatureDoesNotMatch)
        }
    }
}
