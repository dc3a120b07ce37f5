import Foundation
import HTTPTypes

/// The one place that decides, for every request header and query sub-resource the gateway knows
/// of, whether it is **honored**, **accepted as a no-op** (with the reason), or **refused** with
/// AWS's error. Everything a request carries is decided here before anything is read or changed:
/// a client is never answered 200 for a promise the gateway does not keep.
///
/// Unknown `x-amz-*` headers are refused (`NotImplemented`); so are the sub-resources of S3 that
/// the gateway does not implement. When a feature is built, flipping its rows here is the only
/// change this table needs; `docs/COMPATIBILITY.md` is generated from it (`nuage compatibility`).
public enum S3Compatibility {
    enum Support: Sendable, Equatable {
        /// The gateway does what the header or parameter asks.
        case honored(String)
        /// Accepted, and nothing needs doing: the reason says why the client's request is met.
        case noOp(String)
        /// Refused before anything is read or changed.
        case refused(S3Error.Code, String)
    }

    /// One case of a rule: which values (compared case-insensitively; nil: any) in which
    /// operations (nil: any).
    struct Case: Sendable {
        let values: [String]?
        let operations: Set<S3Operation>?
        let support: Support

        func matches(_ operation: S3Operation, _ value: String) -> Bool {
            (operations?.contains(operation) ?? true)
                && (values?.contains { $0.lowercased() == value.lowercased().trimmingCharacters(in: .whitespaces) } ?? true)
        }
    }

    /// A header (or every header with a prefix) or a query parameter, and its cases in order;
    /// the first that matches decides, and the last always matches.
    struct Rule: Sendable {
        let name: String
        let isPrefix: Bool
        let cases: [Case]

        func support(_ operation: S3Operation, _ value: String) -> Support {
            (cases.first { $0.matches(operation, value) } ?? cases[cases.count - 1]).support
        }
    }

    /// A rule's case: `values` in `operations` are met with `support`.
    static func when(_ values: [String]? = nil, in operations: Set<S3Operation>? = nil, _ support: Support) -> Case {
        Case(values: values, operations: operations, support: support)
    }

    static func rule(_ name: String, prefix: Bool = false, _ cases: Case..., otherwise: Support) -> Rule {
        Rule(name: name, isPrefix: prefix, cases: cases + [Case(values: nil, operations: nil, support: otherwise)])
    }

    // MARK: Checks

    /// Refuses the request when one of its headers is refused for `operation`.
    static func checkHeaders(_ headers: HTTPFields, _ operation: S3Operation) throws {
        for field in headers {
            let name = field.name.canonicalName
            guard let rule = headerRule(name) else { continue }
            if case .refused(let code, let message) = rule.support(operation, field.value) {
                throw S3Error(code, message)
            }
        }
    }

    /// The rule for a header, or nil for a header outside the table that carries no S3 semantics
    /// (standard HTTP headers). An `x-amz-*` header outside the table gets the refusing rule.
    static func headerRule(_ name: String) -> Rule? {
        if let rule = headersByName[name] { return rule }
        if let rule = headerPrefixes.first(where: { name.hasPrefix($0.name) }) { return rule }
        guard name.hasPrefix("x-amz-") else { return nil }
        return rule(name, otherwise: .refused(.notImplemented, "The header \(name) is not implemented; the request was not carried out."))
    }

    /// Refuses a query parameter that names a sub-resource `operation` does not honor.
    static func checkParameters(_ s3: S3Request, _ operation: S3Operation) throws {
        for (name, value) in s3.query {
            guard let rule = parametersByName[name] else { continue }
            if case .refused(let code, let message) = rule.support(operation, value) { throw S3Error(code, message) }
        }
    }

    /// Query parameters of presigned URLs; never sub-resources. `X-Amz-Security-Token` is not
    /// among them: temporary credentials are refused by the table.
    static let authenticationParameters: Set<String> = [
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature",
        "AWSAccessKeyId", "Signature", "Expires",
        "x-id",  // the operation name AWS SDKs add to some requests
    ]

    static func isAuthenticationParameter(_ name: String) -> Bool { authenticationParameters.contains(name) }

    static let headersByName: [String: Rule] = Dictionary(headers.filter { !$0.isPrefix }.map { ($0.name, $0) },
                                                          uniquingKeysWith: { first, _ in first })
    static let headerPrefixes: [Rule] = headers.filter(\.isPrefix)
    static let parametersByName: [String: Rule] = Dictionary(parameters.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
}
