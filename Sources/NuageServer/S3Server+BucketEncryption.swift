import Foundation
import Hummingbird
import HTTPTypes
import NuageCatalog
import NuageCore

/// GetBucketEncryption, PutBucketEncryption, DeleteBucketEncryption: a bucket's default
/// encryption. Every object is encrypted whatever it says; the default decides under which key
/// a write that names none is stored: the gateway's (AES256, SSE-S3) or a KMS key's (aws:kms).
extension S3Server {
    func bucketEncryption(_ bucket: String) async throws -> Response {
        guard let record = try await engine.catalog.bucket(bucket) else { throw S3Error(.noSuchBucket) }
        // As at AWS since 2023, a bucket without a configuration answers SSE-S3, which is what it gets.
        let encryption = record.encryption ?? BucketEncryption(kmsKey: nil)
        var xml = XMLWriter()
        xml.open("ServerSideEncryptionConfiguration", namespace: true)
        xml.open("Rule")
        xml.open("ApplyServerSideEncryptionByDefault")
        xml.element("SSEAlgorithm", encryption.kmsKey == nil ? "AES256" : KMSHeaders.algorithm)
        if let name = encryption.kmsKey { xml.element("KMSMasterKeyID", KMSHeaders.arn(name, region: options.region)) }
        xml.close("ApplyServerSideEncryptionByDefault")
        xml.element("BucketKeyEnabled", encryption.bucketKeyEnabled ? "true" : "false")
        xml.close("Rule")
        xml.close("ServerSideEncryptionConfiguration")
        return Self.xmlResponse(xml)
    }

    func putBucketEncryption(_ bucket: String, _ request: Request) async throws -> Response {
        try await changeBucket(bucket) { record in
            let encryption = try Self.parseEncryption(try await xmlBody(request, root: "ServerSideEncryptionConfiguration"))
            if let name = encryption.kmsKey, try await engine.kmsRecord(name: name) == nil {
                throw S3Error(.kmsNotFound, "Invalid keyId \(name)")
            }
            if let name = encryption.kmsKey {
                try await checkKMSOwner(name, bucket: record)
            }
            record.encryption = encryption
        }
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    func deleteBucketEncryption(_ bucket: String) async throws -> Response {
        try await changeBucket(bucket) { $0.encryption = nil }
        return Response(status: .noContent)
    }

    /// `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>…`,
    /// checked as AWS checks it (whether the KMS key it names exists is the caller's to check).
    static func parseEncryption(_ root: XMLNode) throws -> BucketEncryption {
        let rules = root.all("Rule")
        guard rules.count == 1 else {
            throw S3Error(.malformedXML, "A server side encryption configuration holds exactly one Rule.")
        }
        let rule = rules[0]
        var bucketKey = false
        if let text = rule.value("BucketKeyEnabled") {
            guard let value = Bool(text.lowercased()) else { throw S3Error(.malformedXML, "BucketKeyEnabled is true or false.") }
            bucketKey = value
        }
        guard let apply = rule.first("ApplyServerSideEncryptionByDefault"), let algorithm = apply.value("SSEAlgorithm") else {
            throw S3Error(.malformedXML, "A Rule needs ApplyServerSideEncryptionByDefault with an SSEAlgorithm.")
        }
        let keyID = apply.value("KMSMasterKeyID")
        switch algorithm {
        case "AES256":
            guard keyID == nil else { throw S3Error(.invalidArgument, "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse") }
            return BucketEncryption(kmsKey: nil, bucketKeyEnabled: bucketKey)
        case KMSHeaders.algorithm:
            guard let keyID else {
                throw S3Error(.invalidArgument, "aws:kms needs a KMSMasterKeyID: Nuage has no AWS managed key (create one with nuage kms create).")
            }
            return BucketEncryption(kmsKey: try KMSHeaders.name(fromKeyID: keyID), bucketKeyEnabled: bucketKey)
        case "aws:kms:dsse":
            throw S3Error(.notImplemented, "Dual-layer SSE-KMS (aws:kms:dsse) is not implemented; the configuration was not changed.")
        default:
            throw S3Error(.malformedXML, "SSEAlgorithm is AES256, aws:kms or aws:kms:dsse.")
        }
    }
}
