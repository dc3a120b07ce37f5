import Foundation

/// Why a request's signature could not be accepted; the S3 layer maps each to its error code.
public enum SigV4Error: Error, Equatable, Sendable {
    /// The Authorization header or presigned query is malformed (`AuthorizationHeaderMalformed`,
    /// `AuthorizationQueryParametersError`).
    case malformed(String)
    /// The signature does not match (`SignatureDoesNotMatch`).
    case signatureMismatch
    /// A presigned URL past its expiry (`AccessDenied`, "Request has expired").
    case expired
    /// The request time is more than 15 minutes from the server's (`RequestTimeTooSkewed`).
    case skewed
    /// A payload or chunk hash or signature does not match what was signed.
    case payloadMismatch(String)
}

/// The signature parameters of a request, from an Authorization header or a presigned URL.
public struct SigV4Authorization: Sendable, Equatable {
    public var accessKey: String
    public var scope: SigV4.Scope
    public var signedHeaders: [String]
    public var signature: String
    /// `x-amz-date` (header) or `X-Amz-Date` (query): `yyyyMMdd'T'HHmmss'Z'`.
    public var timestamp: String
    /// Seconds a presigned URL stays valid; nil for header authentication.
    public var expires: Int?

    /// The most a presigned URL may live: seven days.
    public static let maximumExpiry = 7 * 24 * 3600

    /// Parses `AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request,
    /// SignedHeaders=host;x-amz-date, Signature=hex`.
    public static func parse(header: String, timestamp: String?) throws(SigV4Error) -> SigV4Authorization {
        guard header.hasPrefix(SigV4.algorithm + " ") else {
            throw .malformed("the authorization header must use \(SigV4.algorithm)")
        }
        var fields: [String: Substring] = [:]
        for part in header.dropFirst(SigV4.algorithm.count + 1).split(separator: ",") {
            let item = SigV4.trimmingWhitespace(part)
            guard let equals = item.firstIndex(of: "=") else { throw .malformed("malformed component '\(item.prefix(40))'") }
            fields[String(item[..<equals])] = Substring(item[item.index(after: equals)...])
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else {
            throw .malformed("the authorization header needs Credential, SignedHeaders and Signature")
        }
        guard let timestamp else { throw .malformed("x-amz-date (or Date) is required") }
        return try make(credential: credential, signedHeaders: signed, signature: signature, timestamp: timestamp, expires: nil)
    }

    /// Parses the `X-Amz-*` parameters of a presigned URL.
    public static func parse(query: [(name: String, value: String)]) throws(SigV4Error) -> SigV4Authorization {
        func value(_ name: String) throws(SigV4Error) -> String {
            guard let found = query.first(where: { $0.name == name })?.value else {
                throw .malformed("the presigned URL lacks \(name)")
            }
            return found
        }
        guard try value("X-Amz-Algorithm") == SigV4.algorithm else { throw .malformed("X-Amz-Algorithm must be \(SigV4.algorithm)") }
        // AWS's answers: 400 AuthorizationQueryParametersError with these messages; a URL whose
        // time is up (X-Amz-Expires 0 included) is 403 AccessDenied "Request has expired".
        guard let expires = Int(try value("X-Amz-Expires")), expires >= 0 else {
            throw .malformed("X-Amz-Expires must be non-negative")
        }
        guard expires <= maximumExpiry else {
            throw .malformed("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than \(maximumExpiry) seconds")
        }
        return try make(credential: Substring(try value("X-Amz-Credential")), signedHeaders: Substring(try value("X-Amz-SignedHeaders")),
                        signature: Substring(try value("X-Amz-Signature")), timestamp: try value("X-Amz-Date"), expires: expires)
    }

    private static func make(credential: Substring, signedHeaders: Substring, signature: Substring, timestamp: String,
                             expires: Int?) throws(SigV4Error) -> SigV4Authorization {
        guard let slash = credential.firstIndex(of: "/"), let scope = SigV4.Scope(credential[credential.index(after: slash)...]) else {
            throw .malformed("Credential must be ACCESS_KEY/yyyyMMdd/region/service/aws4_request")
        }
        let headers = signedHeaders.split(separator: ";").map { $0.lowercased() }
        guard !headers.isEmpty, headers.contains("host") else { throw .malformed("SignedHeaders must include host") }
        guard signature.count == 64, signature.allSatisfy(\.isHexDigit) else { throw .malformed("Signature must be 64 hex digits") }
        guard SigV4Time.parse(timestamp) != nil, timestamp.hasPrefix(scope.date) else {
            throw .malformed("the request date '\(timestamp.prefix(20))' is malformed or does not match the credential scope")
        }
        return SigV4Authorization(accessKey: String(credential[..<slash]), scope: scope, signedHeaders: headers,
                                  signature: signature.lowercased(), timestamp: timestamp, expires: expires)
    }

    /// Checks the signature of a canonical request, in constant time, and the request time.
    /// - Parameters:
    ///   - secret: the access key's secret.
    ///   - now: the server's clock.
    /// - Returns: the signing key, for chunk signatures that chain from this one.
    public func verify(_ input: SigV4.CanonicalInput, secret: String, now: Date) throws(SigV4Error) -> SigV4SigningContext {
        guard let time = SigV4Time.parse(timestamp) else { throw .malformed("malformed date") }
        if let expires {
            guard now.timeIntervalSince(time) <= Double(expires) else { throw .expired }
            guard time.timeIntervalSince(now) <= 15 * 60 else { throw .skewed }
        } else {
            guard abs(now.timeIntervalSince(time)) <= 15 * 60 else { throw .skewed }
        }
        let key = SigV4.signingKey(secret: secret, scope: scope)
        let expected = SigV4.signature(key: key, SigV4.stringToSign(timestamp: timestamp, scope: scope,
                                                                    canonicalRequest: SigV4.canonicalRequest(input)))
        guard ConstantTimeText.equal(expected, signature) else { throw .signatureMismatch }
        return SigV4SigningContext(key: key, timestamp: timestamp, scope: scope, seedSignature: signature)
    }
}

/// What chunk and trailer signatures chain from.
public struct SigV4SigningContext: @unchecked Sendable {
    // SymmetricKey is immutable.
    public let key: SymmetricKeyBox
    public let timestamp: String
    public let scope: SigV4.Scope
    public let seedSignature: String

    /// For requests not signed with SigV4 (legacy presigned URLs): their bodies carry no chunk signatures.
    public static let unsigned = SigV4SigningContext(key: SymmetricKey(size: .bits256), timestamp: "", scope: SigV4.Scope(date: "", region: "", service: ""), seedSignature: "")

    init(key: SymmetricKey, timestamp: String, scope: SigV4.Scope, seedSignature: String) {
        self.key = SymmetricKeyBox(key)
        self.timestamp = timestamp
        self.scope = scope
        self.seedSignature = seedSignature
    }

    /// The signature of one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body.
    public func chunkSignature(previous: String, chunkHash: String) -> String {
        SigV4.signature(key: key.key, "AWS4-HMAC-SHA256-PAYLOAD\n\(timestamp)\n\(scope)\n\(previous)\n\(SigV4.emptyPayloadHash)\n\(chunkHash)")
    }

    /// The signature of the trailing headers of a `…-PAYLOAD-TRAILER` body.
    public func trailerSignature(previous: String, trailerHash: String) -> String {
        SigV4.signature(key: key.key, "AWS4-HMAC-SHA256-TRAILER\n\(timestamp)\n\(scope)\n\(previous)\n\(trailerHash)")
    }
}

import Crypto

/// A signing key shared between tasks.
public final class SymmetricKeyBox: Sendable {
    let key: SymmetricKey
    init(_ key: SymmetricKey) { self.key = key }
}

/// `yyyyMMdd'T'HHmmss'Z'` timestamps.
public enum SigV4Time {
    public static func parse(_ text: String) -> Date? {
        let digits = Array(text.utf8)
        guard digits.count == 16, digits[8] == UInt8(ascii: "T"), digits[15] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for d in digits[range] {
                guard (48...57).contains(d) else { return nil }
                value = value * 10 + Int(d - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(4..<6), let day = number(6..<8),
              let hour = number(9..<11), let minute = number(11..<13), let second = number(13..<15) else { return nil }
        var components = DateComponents()
        (components.year, components.month, components.day) = (year, month, day)
        (components.hour, components.minute, components.second) = (hour, minute, second)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard components.isValidDate(in: calendar) else { return nil }
        return calendar.date(from: components)
    }

    public static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }
}

/// Constant-time comparison of signatures.
enum ConstantTimeText {
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
