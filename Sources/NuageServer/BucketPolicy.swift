import Foundation
import NuageCore

/// A bucket policy: the documented subset of AWS's IAM policy language that the gateway
/// evaluates (docs/SECURITY.md). Anything outside the subset is refused when the policy is put
/// (`MalformedPolicy` naming the element), because a statement stored and not enforced, above
/// all a Deny, would be a hole.
///
/// - Principals: `*` (anyone, anonymous requests included), an access key id, the key as
///   `arn:aws:iam::000000000000:user/KEY-ID`, every key of an owner as `arn:aws:iam::OWNER:root`,
///   or every key of the gateway as `arn:aws:iam::000000000000:root` (or `000000000000`); bare
///   or under `"AWS"`.
/// - Actions: `s3:NAME` for the actions the gateway implements (`S3Operation.iamAction`), with
///   `*` and `?` wildcards.
/// - Resources: `arn:aws:s3:::BUCKET` and `arn:aws:s3:::BUCKET/KEY-PATTERN` of this bucket.
/// - Conditions: `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
///   `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike` on `s3:prefix`,
///   `s3:ExistingObjectTag/TAG`, `s3:x-amz-server-side-encryption`; `Bool` on
///   `aws:SecureTransport`; `IpAddress` and `NotIpAddress` on `aws:SourceIp`; `Null` on any of them.
struct BucketPolicy: Sendable, Equatable {
    static let maximumSize = 20 * 1024
    /// The account every access key of the gateway belongs to in principals' ARNs.
    static let account = "000000000000"

    enum Effect: String, Sendable { case allow = "Allow", deny = "Deny" }

    enum Principal: Sendable, Equatable {
        case anyone
        /// Every access key of the gateway (not anonymous requests).
        case everyKey
        /// Every access key of one owner.
        case owner(String)
        case key(String)
    }

    struct Condition: Sendable, Equatable {
        var operator_: String
        var key: String
        var values: [String]
        /// `values` as address ranges, parsed once (IpAddress, NotIpAddress).
        var ranges: [IPRange] = []

        init(operator_: String, key: String, values: [String]) {
            self.operator_ = operator_
            self.key = key
            self.values = values
            ranges = operator_.hasSuffix("IpAddress") ? values.compactMap(IPRange.init) : []
        }
    }

    struct Statement: Sendable, Equatable {
        var sid: String?
        var effect: Effect
        var principals: [Principal]
        var actions: [String]
        var resources: [String]
        var conditions: [Condition]
    }

    var statements: [Statement]

    /// What a request brings to the evaluation.
    struct Request: Sendable {
        /// nil for an anonymous request.
        var accessKey: String?
        /// The access key's owner; nil for an anonymous request.
        var owner: String? = nil
        var action: String
        /// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
        var resource: String
        /// Condition keys present in the request, by lowercased name.
        var context: [String: String]
    }

    enum Decision: Equatable { case allowed, denied, notApplicable }

    /// An explicit Deny wins; otherwise an Allow that matches allows.
    func evaluate(_ request: Request) -> Decision {
        var allowed = false
        for statement in statements where statement.matches(request) {
            if statement.effect == .deny { return .denied }
            allowed = true
        }
        return allowed ? .allowed : .notApplicable
    }

    /// Whether the policy lets anyone, anonymous requests included, do something.
    var isPublic: Bool {
        statements.contains { $0.effect == .allow && $0.principals.contains(.anyone) }
    }

    /// Whether a statement needs `s3:ExistingObjectTag/…` (the object's tags are read for it).
    var readsObjectTags: Bool {
        statements.contains { $0.conditions.contains { $0.key.hasPrefix("s3:existingobjecttag/") } }
    }

    // MARK: Matching

    static func wildcard(_ pattern: String, matches text: String, ignoringCase: Bool = false) -> Bool {
        let p = Array((ignoringCase ? pattern.lowercased() : pattern).unicodeScalars)
        let t = Array((ignoringCase ? text.lowercased() : text).unicodeScalars)
        // Iterative glob with backtracking to the last `*`: linear in practice, never exponential.
        var (i, j, star, mark) = (0, 0, -1, 0)
        while j < t.count {
            if i < p.count && p[i] == "*" {
                // Before the literal test: a `*` in the text must not consume the pattern's `*`.
                star = i
                mark = j
                i += 1
            } else if i < p.count && (p[i] == "?" || p[i] == t[j]) {
                i += 1
                j += 1
            } else if star >= 0 {
                i = star + 1
                mark += 1
                j = mark
            } else {
                return false
            }
        }
        while i < p.count && p[i] == "*" { i += 1 }
        return i == p.count
    }
}

extension BucketPolicy.Statement {
    func matches(_ request: BucketPolicy.Request) -> Bool {
        principals.contains { principal in
            switch principal {
            case .anyone: true
            case .everyKey: request.accessKey != nil
            case .owner(let name): request.owner == name
            case .key(let id): request.accessKey == id
            }
        }
        && actions.contains { BucketPolicy.wildcard($0, matches: request.action, ignoringCase: true) }
        && resources.contains { BucketPolicy.wildcard($0, matches: request.resource) }
        && conditions.allSatisfy { $0.holds(request.context[$0.key]) }
    }
}

extension BucketPolicy.Condition {
    /// Whether the condition holds for the request's value of its key (nil: absent). An absent
    /// key fails every positive test and passes every negated one, as at AWS.
    func holds(_ value: String?) -> Bool {
        switch operator_ {
        case "Null": return values.contains { ($0.lowercased() == "true") == (value == nil) }
        case "IpAddress", "NotIpAddress":
            guard let value else { return operator_ == "NotIpAddress" }
            guard let address = IPRange.address(value) else { return operator_ == "NotIpAddress" }
            return ranges.contains { $0.contains(address) } == (operator_ == "IpAddress")
        case "StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike":
            guard let value else { return true }
            return !values.contains { Self.test(positive(operator_), $0, value) }
        default:
            guard let value else { return false }
            return values.contains { Self.test(operator_, $0, value) }
        }
    }

    private func positive(_ negated: String) -> String {
        switch negated {
        case "StringNotEquals": "StringEquals"
        case "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase"
        default: "StringLike"
        }
    }

    private static func test(_ operator_: String, _ expected: String, _ value: String) -> Bool {
        switch operator_ {
        case "StringEquals": expected == value
        case "StringEqualsIgnoreCase": expected.lowercased() == value.lowercased()
        case "StringLike": BucketPolicy.wildcard(expected, matches: value)
        case "Bool": expected.lowercased() == value.lowercased()
        default: false
        }
    }
}

/// An IPv4 or IPv6 address or CIDR block (`aws:SourceIp`).
struct IPRange: Equatable, Sendable {
    let bytes: [UInt8]
    let prefix: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = Self.address(String(parts[0])) else { return nil }
        let prefix = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
        guard let prefix, (0...(bytes.count * 8)).contains(prefix) else { return nil }
        self.bytes = bytes
        self.prefix = prefix
    }

    func contains(_ address: [UInt8]) -> Bool {
        var other = address
        // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address.
        if other.count == 16, bytes.count == 4, other[..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] { other = Array(other[12...]) }
        guard other.count == bytes.count else { return false }
        for bit in 0..<prefix where (bytes[bit / 8] >> (7 - bit % 8)) & 1 != (other[bit / 8] >> (7 - bit % 8)) & 1 {
            return false
        }
        return true
    }

    static func address(_ text: String) -> [UInt8]? {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
