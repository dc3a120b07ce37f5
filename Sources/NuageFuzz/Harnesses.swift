import Foundation
import NuageCatalog
import NuageConfig
import NuageCore
import NuageCrypto
import HTTPTypes
import NuagePKCS11
@testable import NuageEngine
@testable import NuageServer
import NuageSigV4

/// Every parser that reads bytes from a client, a provider or an operator, as a function of
/// arbitrary bytes. A harness may throw (bad input is refused), never trap, hang or grow
/// without bound. `scripts/fuzz` runs each under libFuzzer; built without it, `nuage-fuzz
/// replay` runs each file of `Fuzz/corpus` through its harness (a regression run).
enum Harnesses {
    static let all: [String: @Sendable ([UInt8]) -> Void] = [
        "xml": xml, "sigv4-header": sigV4Header, "sigv4-query": sigV4Query, "aws-chunked": awsChunked,
        "range": range, "copy-source": copySource, "http-date": httpDate, "shard-header": shardHeader, "toml": toml,
        "sse-c": customerKeyHeaders, "pkcs11-uri": pkcs11URI, "sse-kms": kmsRequest, "tagging": tagging,
        "cors": cors, "bucket-policy": bucketPolicy, "lifecycle": lifecycle,
        "crc-combine": crcCombine, "post-form": postForm, "object-lock": objectLock,
    ]

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Request bodies: DeleteObjects, CompleteMultipartUpload, CreateBucket.
    static func xml(_ bytes: [UInt8]) {
        guard let root = XMLNode.parse(Data(bytes)) else { return }
        var count = 0
        func walk(_ node: XMLNode, depth: Int) {
            precondition(depth <= XMLNode.maximumDepth, "deeper than the limit")
            count += 1
            _ = node.text
            for child in node.children { walk(child, depth: depth + 1) }
        }
        walk(root, depth: 1)
        precondition(count <= XMLNode.maximumElements, "more elements than the limit")
    }

    /// The Authorization header, then the signing of a request with it (the canonical request
    /// is built from whatever the header names).
    static func sigV4Header(_ bytes: [UInt8]) {
        _ = try? SigV4Authorization.parse(header: text(bytes), timestamp: "20260101T000000Z")
    }

    /// A presigned URL's query string.
    static func sigV4Query(_ bytes: [UInt8]) {
        guard let query = SigV4.parseQuery(Substring(text(bytes))) else { return }
        _ = try? SigV4Authorization.parse(query: query)
    }

    /// `aws-chunked` bodies with trailers, fed in pieces whose sizes the input picks.
    static func awsChunked(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        // Signed chunks fail their signature here, after their framing has been parsed.
        let modes: [AWSChunkedDecoder.Mode] = [.unsigned, .signed(.unsigned, trailer: false), .signed(.unsigned, trailer: true)]
        var decoder = AWSChunkedDecoder(mode: modes[Int(first) % modes.count])
        var output: [UInt8] = []
        var rest = bytes.dropFirst()
        var piece = Int(first >> 1) + 1
        while !rest.isEmpty {
            let chunk = Array(rest.prefix(piece))
            rest = rest.dropFirst(chunk.count)
            do { try chunk.withUnsafeBytes { try decoder.decode($0, into: &output) } } catch { return }
            precondition(Int64(output.count) == decoder.decodedLength, "decoded length disagrees with the output")
            piece = piece % 97 + 1
        }
    }

    /// `Range` and `x-amz-copy-source-range` against an object size the input picks.
    static func range(_ bytes: [UInt8]) {
        guard bytes.count >= 8 else { return }
        let size = Int64(bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } >> 1)
        let header = text(Array(bytes[8...]))
        if case .range(let range) = S3Server.parseRange(header, size: size) {
            precondition(range.lowerBound >= 0 && range.upperBound <= size && !range.isEmpty, "range outside the object")
        }
        if let range = try? S3Server.copyRange(header, size: size) {
            precondition(range.lowerBound >= 0 && range.upperBound <= size, "copy range outside the object")
        }
    }

    /// `x-amz-copy-source`: a parsed source names a valid bucket and key.
    static func copySource(_ bytes: [UInt8]) {
        guard let source = try? CopySource.parse(text(bytes)) else { return }
        precondition((try? ObjectNames.validateBucket(source.bucket)) != nil, "invalid bucket accepted")
        precondition((try? ObjectNames.validateKey(source.key)) != nil, "invalid key accepted")
    }

    /// `If-Modified-Since` and friends.
    static func httpDate(_ bytes: [UInt8]) { _ = S3Server.parseHTTPDate(text(bytes)) }

    static let master = try! MasterKey(bytes: Array(repeating: 7, count: 32))

    /// Shard blob headers read back from a provider: raw bytes (refused unless sealed), and
    /// arbitrary bodies sealed with the master key (a header written by a buggy or hostile
    /// holder of the key), which the field reader must refuse without trapping.
    static func shardHeader(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let prefix = ShardHeader.magic + [UInt8(ShardHeader.format >> 8), UInt8(ShardHeader.format & 0xFF), 0, 0]
        var blob: [UInt8]
        if first & 1 == 0 {
            blob = Array(bytes.dropFirst())
            if blob.count < ShardHeader.size { blob = prefix + blob + Array(repeating: 0, count: max(0, ShardHeader.size - 12 - blob.count)) }
        } else {
            let body = Array(bytes.dropFirst().prefix(ShardHeader.bodySize))
            blob = prefix + (try! master.sealHeader(body + Array(repeating: 0, count: ShardHeader.bodySize - body.count), context: prefix))
        }
        _ = try? ShardHeader.open(blob, with: master)
    }

    /// The SSE-C headers (algorithm, key, key MD5: lines of the input; the first byte picks the
    /// object's or the copy source's): a key is returned only when all three agree.
    static func customerKeyHeaders(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let source = first & 1 == 1
        let prefix = source ? CustomerKeyHeaders.sourcePrefix : CustomerKeyHeaders.prefix
        let lines = text(Array(bytes.dropFirst())).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var headers = HTTPFields()
        for (index, suffix) in ["algorithm", "key", "key-md5"].enumerated() where index < lines.count && first & (2 << index) == 0 {
            headers[HTTPField.Name(prefix + suffix)!] = lines[index]
        }
        guard let key = try? CustomerKeyHeaders.key(headers, source: source, privateTransport: first & 16 == 0) else { return }
        precondition(first & 16 == 0, "a key accepted over plain HTTP")
        precondition(headers[HTTPField.Name(prefix + "algorithm")!] == CustomerKey.algorithm, "another algorithm accepted")
        precondition(Data(base64Encoded: headers[HTTPField.Name(prefix + "key-md5")!] ?? "").map(Array.init) == key.keyDigest,
                     "a key accepted whose MD5 was not the one given")
    }

    /// SSE-KMS: the encryption and key-id headers of a write (first two lines), then a
    /// PutBucketEncryption body (the rest). A key name that comes out is one `nuage kms` could make.
    static func kmsRequest(_ bytes: [UInt8]) {
        let parts = text(bytes).split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        var headers = HTTPFields()
        if parts.count > 0, let name = HTTPField.Name(KMSHeaders.encryption), !parts[0].isEmpty { headers[name] = parts[0] }
        if parts.count > 1, let name = HTTPField.Name(KMSHeaders.keyID), !parts[1].isEmpty { headers[name] = parts[1] }
        let bucketDefault = parts.count > 1 ? BucketEncryption(kmsKey: "default-key") : nil
        if let name = try? KMSHeaders.requestedKey(headers, bucketDefault: bucketDefault, customerKey: bytes.first.map { $0 & 1 == 1 } ?? false) {
            precondition(KMSKeyRecord.isValidName(name), "a KMS key name nuage kms could not make")
        }
        guard parts.count > 2, let root = XMLNode.parse(Data(parts[2].utf8)) else { return }
        if let encryption = try? S3Server.parseEncryption(root), let name = encryption.kmsKey {
            precondition(KMSKeyRecord.isValidName(name), "a bucket default naming a key nuage kms could not make")
        }
    }

    /// A PutBucketCors body (first byte dropped) and a request's origin, method and headers: what
    /// is accepted keeps AWS's limits, reads back as itself from its stored form and its XML, and
    /// a grant is only ever for the origin asked or `*`.
    static func cors(_ bytes: [UInt8]) {
        guard let split = bytes.firstIndex(of: 0) else { return }
        guard let root = XMLNode.parse(Data(bytes[..<split])), let configuration = try? CORSConfiguration(xml: root) else { return }
        precondition(configuration.rules.count <= CORSConfiguration.maximumRules, "more rules than AWS allows")
        precondition((try? CORSConfiguration(stored: configuration.stored)) == configuration, "stored form does not read back")
        let written = XMLNode.parse(Data(configuration.xml().document.utf8))
        precondition(written.flatMap { try? CORSConfiguration(xml: $0) } == configuration, "XML does not read back")
        let request = text(Array(bytes[(split + 1)...])).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard request.count >= 2 else { return }
        if let grant = configuration.grant(origin: request[0], method: request[1], headers: Array(request.dropFirst(2))) {
            precondition(grant.allowOrigin == request[0] || grant.allowOrigin == "*", "a grant for another origin")
            precondition(CORSConfiguration.methods.contains(request[1]), "a grant for a method no rule may hold")
        }
    }

    /// A PutBucketPolicy body, then (after a NUL) a request's key, action, resource and source
    /// address: parsing is deterministic, evaluation never traps, and the wildcard matcher agrees
    /// with a plain recursive one.
    static func bucketPolicy(_ bytes: [UInt8]) {
        guard let split = bytes.firstIndex(of: 0) else { return }
        let fields = text(Array(bytes[(split + 1)...])).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if fields.count >= 2, fields[0].unicodeScalars.count <= 12, fields[1].unicodeScalars.count <= 12 {
            precondition(BucketPolicy.wildcard(fields[0], matches: fields[1]) == globReference(Array(fields[0].unicodeScalars)[...], Array(fields[1].unicodeScalars)[...]),
                         "the wildcard matcher disagrees with the reference")
        }
        guard let policy = try? BucketPolicy(json: text(Array(bytes[..<split])), bucket: "bucket") else { return }
        precondition((try? BucketPolicy(json: text(Array(bytes[..<split])), bucket: "bucket")) == policy, "parsing is not deterministic")
        guard fields.count >= 4 else { return }
        let request = BucketPolicy.Request(accessKey: fields[0].isEmpty ? nil : fields[0], action: fields[1], resource: fields[2],
                                           context: ["aws:sourceip": fields[3], "aws:securetransport": "false"])
        if policy.evaluate(request) == .allowed && request.accessKey == nil {
            precondition(policy.isPublic, "an anonymous request allowed by a policy that is not public")
        }
    }

    static func globReference(_ pattern: ArraySlice<Unicode.Scalar>, _ text: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let first = pattern.first else { return text.isEmpty }
        if first == "*" { return globReference(pattern.dropFirst(), text) || (!text.isEmpty && globReference(pattern, text.dropFirst())) }
        guard let head = text.first, first == "?" || first == head else { return false }
        return globReference(pattern.dropFirst(), text.dropFirst())
    }

    /// A PutBucketLifecycleConfiguration body: what is accepted keeps AWS's limits and reads back
    /// as itself from its stored form and from its XML.
    static func lifecycle(_ bytes: [UInt8]) {
        guard let root = XMLNode.parse(Data(bytes)), let rules = try? LifecycleConfiguration(xml: root) else { return }
        precondition(rules.rules.count <= LifecycleConfiguration.maximumRules, "more rules than AWS allows")
        precondition((try? LifecycleConfiguration(stored: rules.stored)) == rules, "stored form does not read back")
        let written = XMLNode.parse(Data(rules.xml().document.utf8))
        precondition(written.flatMap { try? LifecycleConfiguration(xml: $0) } == rules, "XML does not read back")
    }

    /// What versioning and Object Lock read from clients: an Object Lock configuration (first
    /// byte even), else a retention date and a version id. A configuration reads back from its
    /// stored form and its XML; a date that parses formats to one that parses to the same
    /// instant; a version id is `null` or 32 hex digits, and spells itself back.
    static func objectLock(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        if first & 1 == 0 {
            guard let root = XMLNode.parse(Data(rest)), let configuration = try? ObjectLockConfiguration(xml: root) else { return }
            precondition((try? ObjectLockConfiguration(stored: configuration.stored)) == configuration, "stored form does not read back")
            let written = XMLNode.parse(Data(configuration.xml().document.utf8))
            precondition(written.flatMap { try? ObjectLockConfiguration(xml: $0) } == configuration, "XML does not read back")
            _ = configuration.defaultRetention(from: Date(timeIntervalSince1970: 1_800_000_000))
        } else {
            let text = self.text(rest)
            if let date = ObjectLock.parseDate(text) {
                let again = ObjectLock.parseDate(ObjectLock.formatDate(date))
                precondition(again.map { abs($0.timeIntervalSince(date)) < 0.001 } == true, "a retention date does not read back")
                _ = ObjectLock.refusal([ObjectLock.modeKey: "COMPLIANCE", ObjectLock.retainUntilKey: text], now: Date(), bypassGovernance: true)
            }
            if let selector = try? VersionSelector(s3: text) {
                precondition(selector.s3Text?.lowercased() == text.lowercased(), "a version id does not spell itself back")
            }
        }
    }

    /// A browser-based upload: the form's start (boundary `b`; first byte even) or a policy
    /// document (base64 of the rest) checked against fields: never a trap, and what parses keeps
    /// its limits.
    static func postForm(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        if first & 1 == 0 {
            guard let parsed = try? PostForm.parse(rest, boundary: "b") else { return }
            precondition(parsed.fileStart <= rest.count && parsed.form.fields.allSatisfy { !$0.name.isEmpty }, "a form read past its bytes")
        } else {
            guard let policy = try? PostPolicy(base64: Data(rest).base64EncodedString()) else { return }
            _ = try? policy.check(["key": "k", "bucket": "b", "content-type": "text/plain"], size: Int64(rest.count), now: Date())
        }
    }

    /// Bytes cut into parts where the first bytes say: every CRC combined from the parts' CRCs
    /// is the whole's (FULL_OBJECT checksums of multipart uploads).
    static func crcCombine(_ bytes: [UInt8]) {
        guard bytes.count >= 4 else { return }
        let cuts = Set(bytes.prefix(4).map { Int($0) % max(1, bytes.count - 4) }).sorted()
        let data = Array(bytes.dropFirst(4))
        var parts: [[UInt8]] = [], start = 0
        for cut in cuts where cut >= start && cut <= data.count { parts.append(Array(data[start..<cut])); start = cut }
        parts.append(Array(data[start...]))
        for algorithm in [ChecksumAlgorithm.crc32, .crc32c, .crc64nvme] {
            func crc(_ part: [UInt8]) -> String {
                var hasher = algorithm.hasher()
                part.withUnsafeBytes { hasher.update($0) }
                return hasher.finalBase64()
            }
            let p = CRCCombine.parameters(algorithm)!
            let pieces = parts.map { (crc: CRCCombine.value(crc($0), p)!, length: Int64($0.count)) }
            precondition(CRCCombine.base64(CRCCombine.combine(pieces, p), p) == crc(data), "combined \(algorithm) differs from the whole's")
        }
    }

    /// Object tags from an `x-amz-tagging` header (first byte even) or a PutObjectTagging body:
    /// what is accepted keeps S3's limits and reads back as itself from its stored form.
    static func tagging(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        let parsed: TagSet?
        if first & 1 == 0 {
            parsed = try? TagSet(header: text(rest))
        } else {
            parsed = XMLNode.parse(Data(rest)).flatMap { try? TagSet(xml: $0) }
        }
        guard let tags = parsed else { return }
        precondition(tags.tags.count <= TagSet.maximumTags, "more tags than S3 allows")
        precondition((try? TagSet(header: tags.stored)) == tags, "a tag set whose stored form does not read back as itself")
    }

    /// `[master-key] uri`: what parses prints back as itself.
    static func pkcs11URI(_ bytes: [UInt8]) {
        guard let uri = try? PKCS11URI(text(bytes)) else { return }
        precondition((try? PKCS11URI(uri.description)) == uri, "a pkcs11: URI that does not read back as itself")
    }

    /// `nuage.toml`: the TOML subset, then the configuration's own checks.
    static func toml(_ bytes: [UInt8]) {
        _ = try? Configuration(toml: text(bytes))
    }
}
