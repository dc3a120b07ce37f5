import Foundation
import HTTPTypes
import Hummingbird
import NuageCrypto

/// The SSE-C headers: a client's key for the object (`x-amz-server-side-encryption-customer-*`)
/// or for a copy's source (`x-amz-copy-source-server-side-encryption-customer-*`), checked as
/// AWS checks them. The key is never logged, stored or echoed; only its MD5 goes back.
enum CustomerKeyHeaders {
    static let prefix = "x-amz-server-side-encryption-customer-"
    static let sourcePrefix = "x-amz-copy-source-server-side-encryption-customer-"
    static let algorithm = prefix + "algorithm"
    static let keyMD5 = prefix + "key-md5"

    /// The key the headers give, or nil when they give none.
    /// - Parameter source: read the copy source's headers instead of the object's.
    /// - Throws: AWS's errors for a missing algorithm, key or MD5, an algorithm other than
    ///   AES256, a key that is not 32 bytes of base64, an MD5 that does not match; and a key
    ///   sent in clear over the network (`privateTransport` false).
    static func key(_ headers: HTTPFields, source: Bool = false, privateTransport: Bool) throws -> CustomerKey? {
        let prefix = source ? sourcePrefix : prefix
        let algorithm = headers[named: prefix + "algorithm"], key = headers[named: prefix + "key"],
            md5 = headers[named: prefix + "key-md5"]
        guard algorithm != nil || key != nil || md5 != nil else { return nil }
        guard privateTransport else {
            throw S3Error(.invalidRequest, "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.")
        }
        guard let algorithm else {
            throw S3Error(.invalidArgument, "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.")
        }
        guard algorithm == CustomerKey.algorithm else { throw S3Error(.invalidEncryptionAlgorithm) }
        guard let key else {
            throw S3Error(.invalidArgument, "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.")
        }
        guard let md5 else {
            throw S3Error(.invalidArgument, "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.")
        }
        guard var bytes = Data(base64Encoded: key).map(Array.init), bytes.count == CustomerKey.byteCount else {
            throw S3Error(.invalidArgument, "The secret key was invalid for the specified algorithm.")
        }
        defer { for index in bytes.indices { bytes[index] = 0 } }
        let customerKey = try CustomerKey(bytes: bytes)
        guard let given = Data(base64Encoded: md5), ConstantTime.equal(Array(given), customerKey.keyDigest) else {
            throw S3Error(.invalidArgument, "The calculated MD5 hash of the key did not match the hash that was provided.")
        }
        if !source, headers[named: "x-amz-server-side-encryption"] != nil {
            throw S3Error(.invalidArgument, "Server Side Encryption with Customer provided key is incompatible with the encryption method specified")
        }
        return customerKey
    }

    /// Refuses a key in the query string, before anything else (authentication included): SigV2
    /// presigned URLs move x-amz-* headers there, and a key in a URL is written to every log the
    /// URL passes through.
    static func refuseInQuery(_ s3: S3Request) throws {
        guard s3.query.contains(where: { $0.name.lowercased().hasPrefix(prefix) || $0.name.lowercased().hasPrefix(sourcePrefix) }) else { return }
        throw S3Error(.invalidArgument, "A customer-provided encryption key (SSE-C) in the URL is refused: send it in the x-amz-server-side-encryption-customer-* headers (a SigV4 presigned URL signs them as headers).")
    }

    /// The response headers that tell a client its object is under its key.
    static func echo(_ key: CustomerKey?, into headers: inout HTTPFields) {
        guard let key else { return }
        headers[HTTPField.Name(algorithm)!] = CustomerKey.algorithm
        headers[HTTPField.Name(keyMD5)!] = key.keyMD5
    }
}

extension S3Server {
    /// Whether the client's address is this machine's (a key sent to it never crosses a network).
    static func isLoopback(_ address: String?) -> Bool {
        guard let address else { return false }
        return address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }

    /// The object's customer key in a request (SSE-C), checked.
    func customerKey(_ request: Request, _ s3: S3Request, source: Bool = false) throws -> CustomerKey? {
        try CustomerKeyHeaders.key(request.headers, source: source, privateTransport: s3.privateTransport)
    }
}
