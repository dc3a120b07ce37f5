import Crypto
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import NuageCatalog
import NuageCore
import NuageEngine
import NuageSigV4

/// Browser-based uploads (POST Object): a `multipart/form-data` POST to a bucket, as a web page's
/// form or boto3's `generate_presigned_post` makes it. The form carries the key, a policy
/// document signed with an access key (signature version 4, or 2), the conditions the policy
/// sets, and the file last. The file streams into the engine; nothing is stored unless the
/// signature, the policy, the key's rights and the form's end all check.
extension S3Server {
    /// Whether a request is a browser-based upload: POST to a bucket, a form, no query.
    static func isPostObject(_ request: Request, _ s3: S3Request) -> Bool {
        request.method == .post && s3.bucket != nil && s3.key == nil && s3.query.isEmpty
            && request.headers[.contentType].map { $0.lowercased().hasPrefix("multipart/form-data") } == true
    }

    /// Form fields a POST Object may carry besides `x-amz-meta-*` and `x-ignore-*`.
    static let postFields: Set<String> = [
        "key", "policy", "acl", "success_action_status", "success_action_redirect", "redirect", "content-type", "cache-control",
        "content-disposition", "content-encoding", "content-language", "expires", "tagging", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
        "x-amz-signature", "awsaccesskeyid", "signature", "x-amz-server-side-encryption", "x-amz-storage-class", "bucket",
    ]

    func postObject(_ request: Request, _ s3: S3Request, connection: Connection, record: inout AccessRecord) async throws -> Response {
        let bucket = s3.bucket ?? ""
        guard let boundary = request.headers[.contentType].flatMap(PostForm.boundary(contentType:)) else {
            throw PostForm.malformed("The request's Content-Type is not multipart/form-data with a boundary.")
        }
        guard let total = request.headers[.contentLength].flatMap({ Int64($0) }) else { throw S3Error(.missingContentLength) }
        // The fields, read up to the file (at most 20 KiB of them); what was read past them is the file's start.
        var iterator = request.body.makeAsyncIterator()
        var prelude: [UInt8] = []
        var parsed: (form: PostForm, fileStart: Int)?
        while parsed == nil {
            parsed = try PostForm.parse(prelude, boundary: boundary)
            if parsed != nil { break }
            guard prelude.count <= PostForm.maximumFields + 4096 else {
                throw PostForm.malformed("The form's fields exceed \(PostForm.maximumFields) bytes, or it has no file.")
            }
            guard var next = try await iterator.next() else { throw PostForm.malformed("The form ends before its file.") }
            prelude += next.readBytes(length: next.readableBytes) ?? []
        }
        let (form, fileStart) = parsed!
        let trailer = Array("\r\n--\(boundary)--\r\n".utf8)
        let size = total - Int64(fileStart) - Int64(trailer.count)
        guard size >= 0 else { throw PostForm.malformed("The form ends before its file does.") }
        guard size <= Self.maximumObjectSize else { throw S3Error(.entityTooLarge) }

        var values: [String: String] = ["bucket": bucket]
        for (name, value) in form.fields {
            guard values[name] == nil else { throw PostForm.malformed("The field \(name.prefix(60)) is given twice.") }
            guard Self.postFields.contains(name) || name.hasPrefix("x-amz-meta-") || name.hasPrefix("x-ignore-") else {
                throw S3Error(.notImplemented, "The form field \(name.prefix(60)) is not implemented; nothing was stored.")
            }
            values[name] = value
        }
        values["bucket"] = bucket
        guard let keyField = values["key"], !keyField.isEmpty else { throw S3Error(.invalidArgument, "Bucket POST must contain a field named 'key'.") }
        let key = keyField.replacingOccurrences(of: "${filename}", with: form.fileName)
        try ObjectNames.validateKey(key)
        record.key = key

        var caller = try await postCaller(values)
        caller.connection = connection
        record.accessKey = caller.key.id
        guard let keyPermit = inFlightPerKey.acquire(caller.key.id) else {
            throw S3Error(.slowDown, "This access key has \(options.maxInFlightPerKey) requests in flight, its share of the gateway; retry later.")
        }
        if let text = values["policy"] { try PostPolicy(base64: text).check(values, size: size, now: options.now()) }
        var context = Self.connectionContext(connection)
        if let encryption = values["x-amz-server-side-encryption"] { context["s3:x-amz-server-side-encryption"] = encryption }
        if case .denied(let error) = try await access(caller, .putObject, bucket: bucket, key: key, context: context) { throw error }

        // The stored headers the form gives, as a PUT would give them.
        var headers = HTTPFields()
        for (name, value) in values where Self.storedHeaders.contains(name) || name.hasPrefix("x-amz-meta-") {
            if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
        }
        var metadata = try Self.metadata(from: headers)
        if let tagging = values["tagging"] {
            guard let root = XMLNode.parse(Data(tagging.utf8)) else { throw S3Error(.malformedXML) }
            let tags = try TagSet(xml: root)
            metadata[TagSet.metadataKey] = tags.tags.isEmpty ? nil : tags.stored
        }
        if let acl = values["acl"], !Self.cannedACLs.contains(acl) { throw S3Error(.accessControlListNotSupported) }
        if let encryption = values["x-amz-server-side-encryption"], encryption != "AES256" {
            throw S3Error(.notImplemented, "Browser-based uploads take x-amz-server-side-encryption AES256 only; nothing was stored.")
        }
        if let storage = values["x-amz-storage-class"], storage != "STANDARD" { throw S3Error(.invalidStorageClass) }

        let body = PostFileBody(iterator: iterator, start: Array(prelude[fileStart...]), size: size, trailer: trailer)
        let object = try await engine.put(bucket: bucket, key: key, size: size, body: body, metadata: metadata)
        return postResponse(values, bucket: bucket, key: key, etag: object.etag, host: s3.host).holding([keyPermit])
    }

    /// Who signed the form: signature version 4 (`x-amz-algorithm`, `x-amz-credential`,
    /// `x-amz-date`, `x-amz-signature` over the base64 policy) or 2 (`AWSAccessKeyId`,
    /// `signature`); anonymous only where public buckets are allowed.
    func postCaller(_ values: [String: String]) async throws -> Caller {
        guard let policy = values["policy"] else {
            if values["x-amz-signature"] == nil, values["signature"] == nil, options.allowPublicBuckets { return .anonymous }
            throw S3Error(.accessDenied, "Bucket POST must contain a field named 'policy' signed with an access key.")
        }
        let keyID: String, matches: (String) -> Bool
        if let signature = values["x-amz-signature"] {
            guard values["x-amz-algorithm"] == SigV4.algorithm, let credential = values["x-amz-credential"],
                  let slash = credential.firstIndex(of: "/"), let scope = SigV4.Scope(credential[credential.index(after: slash)...]),
                  let date = values["x-amz-date"], SigV4Time.parse(date) != nil, date.hasPrefix(scope.date) else {
                throw S3Error(.invalidArgument, "POST requires x-amz-algorithm AWS4-HMAC-SHA256, x-amz-credential and an x-amz-date of the credential's day with x-amz-signature.")
            }
            try checkScope(scope, presigned: true)
            keyID = String(credential[..<slash])
            matches = { secret in
                Self.constantTimeEqual(SigV4.signature(key: SigV4.signingKey(secret: secret, scope: scope), policy), signature.lowercased())
            }
        } else if let signature = values["signature"], let id = values["awsaccesskeyid"] {
            keyID = id
            matches = { secret in
                let expected = Data(HMAC<Insecure.SHA1>.authenticationCode(for: Array(policy.utf8), using: SymmetricKey(data: Array(secret.utf8))))
                return Self.constantTimeEqual(expected.base64EncodedString(), signature)
            }
        } else {
            throw S3Error(.accessDenied, "Bucket POST with a policy must be signed (x-amz-signature, or AWSAccessKeyId and signature).")
        }
        guard let key = try await engine.catalog.accessKey(id: keyID) else { throw S3Error(.invalidAccessKeyId) }
        guard matches(try engine.openSecret(key.sealedSecret, accessKey: key.id)) else { throw S3Error(.signatureDoesNotMatch) }
        return Caller(key: key, signing: .unsigned, payloadHash: "UNSIGNED-PAYLOAD")
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// `success_action_redirect` (303 to it with bucket, key and ETag), else
    /// `success_action_status`: 200, 201 (a PostResponse document) or 204 (the default).
    func postResponse(_ values: [String: String], bucket: String, key: String, etag: String, host: String) -> Response {
        let location = "http://\(host)/\(bucket)/\(SigV4.uriEncode(key, encodeSlash: false))"
        var headers: HTTPFields = [.eTag: "\"\(etag)\"", .location: location]
        if let redirect = values["success_action_redirect"] ?? values["redirect"], var target = URLComponents(string: redirect),
           target.scheme == "http" || target.scheme == "https" {
            target.queryItems = (target.queryItems ?? []) + [URLQueryItem(name: "bucket", value: bucket), URLQueryItem(name: "key", value: key),
                                                             URLQueryItem(name: "etag", value: "\"\(etag)\"")]
            if let url = target.string {
                headers[.location] = url
                headers[.contentLength] = "0"
                return Response(status: .seeOther, headers: headers)
            }
        }
        switch values["success_action_status"] {
        case "200":
            headers[.contentLength] = "0"
            return Response(status: .ok, headers: headers)
        case "201":
            var xml = XMLWriter()
            xml.open("PostResponse")
            xml.element("Location", location)
            xml.element("Bucket", bucket)
            xml.element("Key", key)
            xml.element("ETag", "\"\(etag)\"")
            xml.close("PostResponse")
            var response = Self.xmlResponse(xml, status: .created)
            for field in headers { response.headers[field.name] = field.value }
            return response
        default:
            headers[.contentLength] = "0"
            return Response(status: .noContent, headers: headers)
        }
    }
}

/// A form's file as the engine reads it: what was read past the fields, then the rest of the
/// request body, exactly `size` bytes; at the end the form's closing boundary must follow, or
/// the put fails and nothing is stored.
final class PostFileBody: ObjectBody, @unchecked Sendable {
    // Read by the one task running the put; never shared.
    private var iterator: RequestBody.AsyncIterator
    private var buffered: [UInt8]
    private var offset = 0
    private var remaining: Int64
    private let trailer: [UInt8]
    /// `\r\n--boundary`, which a part's content never holds: finding it in the file means the
    /// form went on after the file (the file was not its last field).
    private let delimiter: [UInt8]
    /// The file's last bytes read, to find a delimiter across pieces.
    private var window: [UInt8] = []
    private var finished = false

    init(iterator: RequestBody.AsyncIterator, start: [UInt8], size: Int64, trailer: [UInt8]) {
        self.iterator = iterator
        buffered = start
        remaining = size
        self.trailer = trailer
        delimiter = Array(trailer.dropLast(4))
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        while true {
            if remaining == 0 {
                if !finished { try await finish() }
                return 0
            }
            if offset < buffered.count {
                let n = min(buffer.count, buffered.count - offset, Int(min(remaining, Int64(Int.max))))
                buffered.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
                try scan(buffered[offset..<(offset + n)])
                offset += n
                remaining -= Int64(n)
                return n
            }
            guard var next = try await iterator.next() else { throw S3Error(.incompleteBody) }
            buffered = next.readBytes(length: next.readableBytes) ?? []
            offset = 0
        }
    }

    /// Looks for the delimiter in a piece of the file without copying it: in the piece, and
    /// across its seam with the bytes before it.
    private func scan(_ piece: ArraySlice<UInt8>) throws {
        let seam = window + piece.prefix(delimiter.count - 1)
        let found = PostForm.find(delimiter, in: seam, from: 0) != nil || piece.withUnsafeBytes { PostForm.find(delimiter, in: $0) != nil }
        if found { throw PostForm.malformed("The file must be the form's last field, followed by its closing boundary.") }
        window = Array((window + piece.suffix(delimiter.count - 1)).suffix(delimiter.count - 1))
    }

    /// The bytes after the file must be the form's closing boundary, and nothing more.
    private func finish() async throws {
        finished = true
        var rest = Array(buffered[offset...])
        while rest.count <= trailer.count, var piece = try await iterator.next() {
            rest += piece.readBytes(length: piece.readableBytes) ?? []
        }
        guard rest == trailer else { throw PostForm.malformed("The file must be the form's last field, followed by its closing boundary.") }
    }
}
