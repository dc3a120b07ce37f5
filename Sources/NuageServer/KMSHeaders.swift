import Foundation
import HTTPTypes
import Hummingbird
import NuageCatalog
import NuageCore
import NuageEngine

/// SSE-KMS: `x-amz-server-side-encryption: aws:kms` with `x-amz-server-side-encryption-aws-kms-key-id`
/// on object writes, the bucket's default (PutBucketEncryption) for writes that name nothing,
/// and the key echoed back as an ARN.
///
/// A key is named as `nuage kms create` named it, or as `alias/NAME`, or as an ARN
/// `arn:aws:kms:REGION:ACCOUNT:key/NAME` (or `…:alias/NAME`) whatever its region and account;
/// responses name it `arn:aws:kms:REGION:000000000000:key/NAME`.
enum KMSHeaders {
    static let encryption = "x-amz-server-side-encryption"
    static let keyID = "x-amz-server-side-encryption-aws-kms-key-id"
    static let bucketKeyEnabled = "x-amz-server-side-encryption-bucket-key-enabled"
    static let algorithm = "aws:kms"
    /// The account that echoed ARNs carry (Nuage has no AWS accounts).
    static let account = "000000000000"

    /// The KMS key a write is stored under: the one it names, else the bucket's default when the
    /// write asks for no encryption (an SSE-C write or an explicit AES256 keeps its choice).
    /// - Throws: `InvalidArgument` for a key id without `aws:kms`, or `aws:kms` without a key
    ///   id and no bucket default; `KMS.NotFoundException` for a key id that cannot name a key.
    static func requestedKey(_ headers: HTTPFields, bucketDefault: BucketEncryption?, customerKey: Bool) throws -> String? {
        let method = headers[named: encryption]
        let id = headers[named: keyID]
        if id != nil && method != algorithm {
            throw S3Error(.invalidArgument, "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms")
        }
        switch method {
        case algorithm?:
            if let id { return try name(fromKeyID: id) }
            if let name = bucketDefault?.kmsKey { return name }
            throw S3Error(.invalidArgument, "x-amz-server-side-encryption: aws:kms needs x-amz-server-side-encryption-aws-kms-key-id: Nuage has no AWS managed key (create one with nuage kms create, or make one the bucket's default with PutBucketEncryption).")
        case nil:
            return customerKey ? nil : bucketDefault?.kmsKey
        default:
            return nil
        }
    }

    /// The key name in a key id: `NAME`, `alias/NAME`, or an ARN ending in `key/NAME` or `alias/NAME`.
    /// - Throws: `KMS.NotFoundException` when no valid name is left.
    static func name(fromKeyID id: String) throws -> String {
        var name = Substring(id)
        if name.hasPrefix("arn:") {
            let fields = name.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
            guard fields.count == 6, fields[1] == "aws", fields[2] == "kms" else { throw notFound(id) }
            name = fields[5]
            guard name.hasPrefix("key/") || name.hasPrefix("alias/") else { throw notFound(id) }
        }
        if name.hasPrefix("key/") { name = name.dropFirst(4) } else if name.hasPrefix("alias/") { name = name.dropFirst(6) }
        guard KMSKeyRecord.isValidName(String(name)) else { throw notFound(id) }
        return String(name)
    }

    private static func notFound(_ id: String) -> S3Error {
        S3Error(.kmsNotFound, "Invalid keyId \(id.prefix(300))")
    }

    static func arn(_ name: String, region: String) -> String { "arn:aws:kms:\(region):\(account):key/\(name)" }

    /// `x-amz-server-side-encryption: aws:kms` and the key's ARN.
    static func echo(_ name: String?, region: String, into headers: inout HTTPFields) {
        guard let name else { return }
        headers[HTTPField.Name(encryption)!] = algorithm
        headers[HTTPField.Name(keyID)!] = arn(name, region: region)
    }
}

extension S3Server {
    /// The KMS key a write to `bucket` is stored under (see ``KMSHeaders/requestedKey(_:bucketDefault:customerKey:)``).
    /// - Throws: also `NoSuchBucket`.
    /// - Parameter record: the bucket's record, when the request has read it already.
    func requestedKMSKey(_ request: Request, bucket: String, record: BucketRecord? = nil, customerKey: Bool) async throws -> String? {
        var record = record
        if record?.name != bucket { record = try await engine.catalog.bucket(bucket) }
        guard let record else { throw S3Error(.noSuchBucket) }
        let name = try KMSHeaders.requestedKey(request.headers, bucketDefault: record.encryption, customerKey: customerKey)
        if let name { try await checkKMSOwner(name, bucket: record) }
        return name
    }

    /// A KMS key serves its owner's buckets only: another owner's key is not found, as at AWS
    /// without a grant (its destruction must never shred another owner's objects).
    func checkKMSOwner(_ name: String, bucket: BucketRecord) async throws {
        if let key = try await engine.kmsRecord(name: name), key.owner != bucket.owner {
            throw S3Error(.kmsNotFound, "Invalid keyId \(name)")
        }
    }

    /// The name of the KMS key a stored version (or part) is under, nil when it is not.
    func kmsKeyName(_ manifest: Manifest) async throws -> String? {
        guard let id = manifest.kmsKeyID else { return nil }
        return try await engine.kmsRecord(id: id)?.name ?? id.hex
    }

    /// Echoes the KMS key of a stored version (or part), as AWS does on reads and writes.
    func echoKMSKey(_ manifest: Manifest, into headers: inout HTTPFields) async throws {
        KMSHeaders.echo(try await kmsKeyName(manifest), region: options.region, into: &headers)
    }
}
