import Foundation
import Hummingbird
import HTTPTypes
import NuageCore
import NuageEngine

/// ACL answers as AWS's default since 2023 ("bucket owner enforced"): buckets and objects
/// belong to the gateway's owner, who has FULL_CONTROL, and access is decided by access keys
/// and their bucket scopes. ACLs that say so are accepted; any grant to another principal is
/// refused (`AccessControlListNotSupported`) rather than stored and ignored.
extension S3Server {
    static let cannedACLs: Set<String> = ["private", "bucket-owner-full-control"]

    func acl(bucket: String, key: String?) async throws -> Response {
        guard let owner = try await engine.catalog.bucket(bucket)?.owner else { throw S3Error(.noSuchBucket) }
        if let key { _ = try await engine.head(bucket: bucket, key: key) }
        var xml = XMLWriter()
        xml.open("AccessControlPolicy", namespace: true)
        Self.writeOwner(&xml, owner)
        xml.open("AccessControlList")
        xml.open("Grant")
        // s3cmd reads the grantee's type from xsi:type, as AWS writes it.
        xml.open("Grantee", attributes: [("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"), ("xsi:type", "CanonicalUser")])
        xml.element("ID", owner)
        xml.element("DisplayName", owner)
        xml.close("Grantee")
        xml.element("Permission", "FULL_CONTROL")
        xml.close("Grant")
        xml.close("AccessControlList")
        xml.close("AccessControlPolicy")
        return Self.xmlResponse(xml)
    }

    func putACL(bucket: String, key: String?, _ request: Request) async throws -> Response {
        guard let owner = try await engine.catalog.bucket(bucket)?.owner else { throw S3Error(.noSuchBucket) }
        if let key { _ = try await engine.head(bucket: bucket, key: key) }
        if let canned = request.headers[named: "x-amz-acl"] {
            guard Self.cannedACLs.contains(canned) else { throw S3Error(.accessControlListNotSupported) }
        } else if let policy = try await xmlBody(request, root: "AccessControlPolicy", optional: true) {
            try Self.checkOwnerOnly(policy, owner: owner)
        } else {
            throw S3Error(.malformedXML, "An ACL needs x-amz-acl or an AccessControlPolicy body.")
        }
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    /// An AccessControlPolicy that grants only the bucket's owner FULL_CONTROL.
    static func checkOwnerOnly(_ policy: XMLNode, owner: String) throws {
        if let named = policy.first("Owner")?.value("ID"), named != owner { throw S3Error(.accessControlListNotSupported) }
        guard let list = policy.first("AccessControlList") else { throw S3Error(.malformedXML) }
        for grant in list.all("Grant") {
            guard let grantee = grant.first("Grantee"), grantee.value("ID") == owner, grantee.first("URI") == nil,
                  grantee.first("EmailAddress") == nil, grant.value("Permission") == "FULL_CONTROL" else {
                throw S3Error(.accessControlListNotSupported)
            }
        }
    }

    func ownershipControls(_ bucket: String) async throws -> Response {
        guard try await engine.catalog.bucket(bucket) != nil else { throw S3Error(.noSuchBucket) }
        var xml = XMLWriter()
        xml.open("OwnershipControls", namespace: true)
        xml.open("Rule")
        xml.element("ObjectOwnership", "BucketOwnerEnforced")
        xml.close("Rule")
        xml.close("OwnershipControls")
        return Self.xmlResponse(xml)
    }

    func putOwnershipControls(_ bucket: String, _ request: Request) async throws -> Response {
        guard try await engine.catalog.bucket(bucket) != nil else { throw S3Error(.noSuchBucket) }
        let controls = try await xmlBody(request, root: "OwnershipControls")
        let rules = controls.all("Rule")
        guard !rules.isEmpty, rules.allSatisfy({ $0.value("ObjectOwnership") != nil }) else { throw S3Error(.malformedXML) }
        guard rules.allSatisfy({ $0.value("ObjectOwnership") == "BucketOwnerEnforced" }) else {
            throw S3Error(.notImplemented, "Only BucketOwnerEnforced is implemented: ACLs are disabled and access is decided by access keys.")
        }
        return Response(status: .ok, headers: [.contentLength: "0"])
    }
}
