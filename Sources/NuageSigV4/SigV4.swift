import Crypto
import Foundation
import NuageCore

/// AWS Signature Version 4: the canonical request, the string to sign, the signing key and
/// the signature, shared by the S3 server (to verify) and S3 providers (to sign).
///
/// Reference: AWS "Signature Version 4 signing process"; the published test suite vectors
/// run in the tests.
public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// `date/region/service/aws4_request`.
    public struct Scope: Hashable, Sendable, CustomStringConvertible {
        public var date: String      // yyyyMMdd
        public var region: String
        public var service: String

        public init(date: String, region: String, service: String) {
            self.date = date
            self.region = region
            self.service = service
        }

        /// Parses `date/region/service/aws4_request`.
        public init?(_ text: Substring) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[3] == "aws4_request", parts[0].count == 8, parts[0].allSatisfy(\.isNumber) else { return nil }
            self.init(date: String(parts[0]), region: String(parts[1]), service: String(parts[2]))
        }

        public var description: String { "\(date)/\(region)/\(service)/aws4_request" }
    }

    /// The request as the signer saw it.
    public struct CanonicalInput: Sendable {
        public var method: String
        /// The path, decoded (no percent escapes); it is encoded here the way S3 expects.
        public var path: String
        /// Query parameters, decoded.
        public var query: [(name: String, value: String)]
        /// Header names (any case) and values of the request.
        public var headers: [(name: String, value: String)]
        /// Lower-case names of the signed headers.
        public var signedHeaders: [String]
        /// `x-amz-content-sha256`, `UNSIGNED-PAYLOAD`, or a streaming marker.
        public var payloadHash: String

        public init(method: String, path: String, query: [(name: String, value: String)],
                    headers: [(name: String, value: String)], signedHeaders: [String], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.signedHeaders = signedHeaders
            self.payloadHash = payloadHash
        }
    }

    /// The canonical request text.
    public static func canonicalRequest(_ input: CanonicalInput, normalizePath: Bool = false) -> String {
        let path = normalizePath ? normalized(input.path) : input.path
        let canonicalPath = uriEncode(path.isEmpty ? "/" : path, encodeSlash: false)
        let encoded: [(name: String, value: String)] = input.query.map {
            (uriEncode($0.name, encodeSlash: true), uriEncode($0.value, encodeSlash: true))
        }
        let sortedPairs = encoded.sorted { a, b in a.name != b.name ? a.name < b.name : a.value < b.value }
        let query = sortedPairs.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        var values: [String: [String]] = [:]
        for (name, value) in input.headers { values[name.lowercased(), default: []].append(trimmed(value)) }
        let signed = input.signedHeaders.map { $0.lowercased() }.sorted()
        let headers = signed.map { "\($0):\((values[$0] ?? []).joined(separator: ","))\n" }.joined()
        return [input.method, canonicalPath, query, headers, signed.joined(separator: ";"), input.payloadHash]
            .joined(separator: "\n")
    }

    /// `AWS4-HMAC-SHA256 \n timestamp \n scope \n hex(sha256(canonical request))`.
    public static func stringToSign(timestamp: String, scope: Scope, canonicalRequest: String) -> String {
        "\(algorithm)\n\(timestamp)\n\(scope)\n\(sha256Hex(Array(canonicalRequest.utf8)))"
    }

    /// The signing key for a secret and scope.
    public static func signingKey(secret: String, scope: Scope) -> SymmetricKey {
        let date = hmac(key: Array("AWS4\(secret)".utf8), scope.date)
        let region = hmac(key: date, scope.region)
        let service = hmac(key: region, scope.service)
        return SymmetricKey(data: hmac(key: service, "aws4_request"))
    }

    /// Hex HMAC-SHA256 of `text` under the signing key.
    public static func signature(key: SymmetricKey, _ text: String) -> String {
        Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)).hex
    }

    public static func sha256Hex(_ bytes: some DataProtocol) -> String { Array(SHA256.hash(data: bytes)).hex }

    static func hmac(key: [UInt8], _ text: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: SymmetricKey(data: key)))
    }

    /// AWS's URI encoding: every byte except `A-Z a-z 0-9 - . _ ~` (and `/` unless
    /// `encodeSlash`) as `%XX` with upper-case hex.
    public static func uriEncode(_ text: String, encodeSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where !encodeSlash:
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes (and, when `plusIsSpace`, `+` as a space, as in form queries).
    /// Returns nil for a malformed escape or bytes that are not UTF-8.
    public static func percentDecode(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 65...70: c - 55
            case 97...102: c - 87
            default: nil
            }
        }
        while let c = iterator.next() {
            if c == UInt8(ascii: "%") {
                guard let h = iterator.next().flatMap(value), let l = iterator.next().flatMap(value) else { return nil }
                bytes.append(h << 4 | l)
            } else if c == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(c)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Splits a raw query string into decoded pairs (a name without `=` has an empty value).
    public static func parseQuery(_ raw: Substring) -> [(name: String, value: String)]? {
        var pairs: [(String, String)] = []
        for item in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(parts[0]), let value = parts.count > 1 ? percentDecode(parts[1]) : "" else { return nil }
            pairs.append((name, value))
        }
        return pairs
    }

    /// Header value with leading and trailing spaces removed and inner runs of spaces collapsed.
    static func trimmed(_ value: String) -> String {
        String(trimmingWhitespace(value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")))
    }

    /// `text` without leading and trailing whitespace: tab, Unicode's space separators and U+200B, the
    /// set Foundation's `trimmingCharacters(in: .whitespaces)` trims, without its trip through
    /// NSString (which was 4.6 % of a small GET's server time).
    static func trimmingWhitespace<Text: StringProtocol>(_ text: Text) -> Text.SubSequence {
        func isSpace(_ scalar: Unicode.Scalar) -> Bool {
            scalar == " " || scalar == "\t" || (scalar.value >= 0x80 && (scalar.properties.generalCategory == .spaceSeparator || scalar.value == 0x200B))
        }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return text[text.endIndex...] }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return text[first...last]
    }

    /// RFC 3986 dot-segment removal and duplicate-slash collapsing (for services other than S3).
    static func normalized(_ path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." { _ = segments.popLast(); continue }
            segments.append(segment)
        }
        let joined = "/" + segments.joined(separator: "/")
        return path.hasSuffix("/") && joined != "/" ? joined + "/" : joined
    }
}
