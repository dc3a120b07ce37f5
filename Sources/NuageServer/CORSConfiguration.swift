import Foundation
import NuageCore

/// A bucket's CORS configuration (PutBucketCors), as AWS documents it: at most 100 rules, each
/// with origins and headers that may hold one `*` wildcard, methods among GET, PUT, HEAD, POST
/// and DELETE. The first rule that matches a request decides.
struct CORSConfiguration: StoredBucketSetting, Equatable, Sendable {
    static let settingName = "CORS configuration"
    struct Rule: Codable, Equatable, Sendable {
        var id: String?
        var allowedOrigins: [String]
        var allowedMethods: [String]
        var allowedHeaders: [String] = []
        var exposeHeaders: [String] = []
        var maxAgeSeconds: Int?
    }

    static let maximumRules = 100
    static let methods: Set<String> = ["GET", "PUT", "HEAD", "POST", "DELETE"]
    var rules: [Rule]

    /// `<CORSConfiguration><CORSRule>…</CORSRule>…</CORSConfiguration>`.
    /// - Throws: `MalformedXML` for a missing or unknown element, `InvalidRequest` for what AWS
    ///   refuses in a well-formed configuration (AWS's wording).
    init(xml root: XMLNode) throws {
        guard root.name == "CORSConfiguration" else { throw S3Error(.malformedXML) }
        let ruleNodes = root.children
        guard !ruleNodes.isEmpty, ruleNodes.allSatisfy({ $0.name == "CORSRule" }) else { throw S3Error(.malformedXML) }
        guard ruleNodes.count <= Self.maximumRules else {
            throw S3Error(.invalidRequest, "The number of CORS rules should not exceed allowed limit of \(Self.maximumRules) rules.")
        }
        rules = try ruleNodes.map(Self.rule)
    }

    private static func rule(_ node: XMLNode) throws -> Rule {
        var rule = Rule(allowedOrigins: [], allowedMethods: [])
        for child in node.children {
            let text = child.text.trimmingCharacters(in: .whitespacesAndNewlines)
            switch child.name {
            case "ID":
                guard rule.id == nil, text.count <= 255 else { throw S3Error(.malformedXML) }
                rule.id = text
            case "AllowedOrigin":
                guard text.count(where: { $0 == "*" }) <= 1 else {
                    throw S3Error(.invalidRequest, "AllowedOrigin \"\(text.prefix(100))\" can not have more than one wildcard.")
                }
                rule.allowedOrigins.append(text)
            case "AllowedMethod":
                guard methods.contains(text) else {
                    throw S3Error(.invalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is \(text.prefix(40))")
                }
                rule.allowedMethods.append(text)
            case "AllowedHeader":
                guard text.count(where: { $0 == "*" }) <= 1 else {
                    throw S3Error(.invalidRequest, "AllowedHeader \"\(text.prefix(100))\" can not have more than one wildcard.")
                }
                rule.allowedHeaders.append(text)
            case "ExposeHeader":
                guard !text.contains("*") else {
                    throw S3Error(.invalidRequest, "ExposeHeader \"\(text.prefix(100))\" contains wildcard. We currently do not support wildcard for ExposeHeader.")
                }
                rule.exposeHeaders.append(text)
            case "MaxAgeSeconds":
                guard rule.maxAgeSeconds == nil, let seconds = Int(text), seconds >= 0 else { throw S3Error(.malformedXML) }
                rule.maxAgeSeconds = seconds
            default:
                throw S3Error(.malformedXML)
            }
        }
        guard !rule.allowedOrigins.isEmpty, !rule.allowedMethods.isEmpty else { throw S3Error(.malformedXML) }
        return rule
    }

    func xml() -> XMLWriter {
        var xml = XMLWriter()
        xml.open("CORSConfiguration", namespace: true)
        for rule in rules {
            xml.open("CORSRule")
            if let id = rule.id { xml.element("ID", id) }
            for header in rule.allowedHeaders { xml.element("AllowedHeader", header) }
            for method in rule.allowedMethods { xml.element("AllowedMethod", method) }
            for origin in rule.allowedOrigins { xml.element("AllowedOrigin", origin) }
            for header in rule.exposeHeaders { xml.element("ExposeHeader", header) }
            if let seconds = rule.maxAgeSeconds { xml.element("MaxAgeSeconds", String(seconds)) }
            xml.close("CORSRule")
        }
        xml.close("CORSConfiguration")
        return xml
    }

    /// What a matching rule lets the browser see.
    struct Grant: Equatable, Sendable {
        /// `*` when the rule allows every origin, otherwise the request's origin.
        var allowOrigin: String
        var allowCredentials: Bool
        var allowMethods: String
        /// The requested headers (preflight only), lowercased.
        var allowHeaders: String?
        var exposeHeaders: String?
        var maxAge: Int?

        /// The `Access-Control-*` response headers, and `Vary`.
        var headers: [(name: String, value: String)] {
            var fields = [("Access-Control-Allow-Origin", allowOrigin), ("Access-Control-Allow-Methods", allowMethods)]
            if allowCredentials { fields.append(("Access-Control-Allow-Credentials", "true")) }
            if let allowHeaders, !allowHeaders.isEmpty { fields.append(("Access-Control-Allow-Headers", allowHeaders)) }
            if let exposeHeaders, !exposeHeaders.isEmpty { fields.append(("Access-Control-Expose-Headers", exposeHeaders)) }
            if let maxAge { fields.append(("Access-Control-Max-Age", String(maxAge))) }
            fields.append(("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"))
            return fields
        }
    }

    /// The first rule allowing `origin` to use `method` with `headers` (the headers a preflight
    /// asks for; an actual request's headers are not checked, as at AWS), or nil.
    func grant(origin: String, method: String, headers: [String]) -> Grant? {
        let requested = headers.map { $0.lowercased() }
        for rule in rules {
            guard let pattern = rule.allowedOrigins.first(where: { Self.matches($0, origin) }),
                  rule.allowedMethods.contains(method),
                  requested.allSatisfy({ header in rule.allowedHeaders.contains { Self.matches($0.lowercased(), header) } }) else { continue }
            return Grant(allowOrigin: pattern == "*" ? "*" : origin, allowCredentials: pattern != "*",
                         allowMethods: rule.allowedMethods.joined(separator: ", "),
                         allowHeaders: requested.isEmpty ? nil : requested.joined(separator: ", "),
                         exposeHeaders: rule.exposeHeaders.isEmpty ? nil : rule.exposeHeaders.joined(separator: ", "),
                         maxAge: rule.maxAgeSeconds)
        }
        return nil
    }

    /// `pattern` with at most one `*` (any run of characters) matches all of `text`.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let star = pattern.firstIndex(of: "*") else { return pattern == text }
        let prefix = pattern[..<star], suffix = pattern[pattern.index(after: star)...]
        return text.count >= prefix.count + suffix.count && text.hasPrefix(prefix) && text.hasSuffix(suffix)
    }
}
