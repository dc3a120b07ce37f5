import Foundation
import NuageCatalog
import NuageCore

extension BucketPolicy {
    /// Condition keys the gateway evaluates (lowercased), with the operators each may take.
    static let conditionKeys: [String: Set<String>] = [
        "aws:securetransport": ["Bool", "Null"],
        "aws:sourceip": ["IpAddress", "NotIpAddress", "Null"],
        "s3:prefix": stringOperators,
        "s3:x-amz-server-side-encryption": stringOperators,
    ]
    static let existingObjectTag = "s3:existingobjecttag/"
    static let stringOperators: Set<String> = ["StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
                                               "StringLike", "StringNotLike", "Null"]

    /// Parses and checks a policy document for `bucket`.
    /// - Throws: `MalformedPolicy` naming what is wrong or outside the subset.
    init(json text: String, bucket: String) throws {
        guard text.utf8.count <= Self.maximumSize else {
            throw S3Error(.malformedPolicy, "Policies must be at most \(Self.maximumSize) bytes.")
        }
        guard text.first(where: { !$0.isWhitespace }) == "{",
              let document = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw S3Error(.malformedPolicy)
        }
        for name in document.keys where !["Version", "Id", "Statement"].contains(name) {
            throw Self.malformed("Unknown field \(name.prefix(60)); Nuage evaluates Version, Id and Statement.")
        }
        if let version = document["Version"] {
            guard let version = version as? String, ["2012-10-17", "2008-10-17"].contains(version) else {
                throw Self.malformed("The policy must contain a valid version string")
            }
        }
        let list: [Any]
        switch document["Statement"] {
        case let many as [Any]: list = many
        case let one as [String: Any]: list = [one]
        default: throw Self.malformed("Missing required field Statement")
        }
        guard !list.isEmpty else { throw Self.malformed("Missing required field Statement") }
        statements = try list.map { try Self.statement($0, bucket: bucket) }
    }

    private static let jsonBoolean = type(of: NSNumber(value: true))

    static func malformed(_ message: String) -> S3Error { S3Error(.malformedPolicy, message) }

    private static func statement(_ value: Any, bucket: String) throws -> Statement {
        guard let fields = value as? [String: Any] else { throw malformed("A Statement must be an object.") }
        for name in fields.keys where !["Sid", "Effect", "Principal", "Action", "Resource", "Condition"].contains(name) {
            throw malformed("\(name.prefix(60)) is not supported by Nuage's bucket policies; the policy was not stored.")
        }
        let sid = fields["Sid"] as? String
        guard fields["Sid"] == nil || sid != nil else { throw malformed("Sid must be a string.") }
        guard let effectText = fields["Effect"] as? String else { throw malformed("Missing required field Effect") }
        guard let effect = Effect(rawValue: effectText) else { throw malformed("Invalid effect: \(effectText.prefix(40))") }
        guard let principal = fields["Principal"] else { throw malformed("Missing required field Principal") }
        guard let actionValue = fields["Action"] else { throw malformed("Missing required field Action") }
        guard let resourceValue = fields["Resource"] else { throw malformed("Missing required field Resource") }
        let actions = try strings(actionValue, "Action")
        for action in actions {
            let known = action == "*" || (action.lowercased().hasPrefix("s3:") && S3Operation.iamActions.contains { wildcard(action, matches: $0, ignoringCase: true) })
            guard known else { throw malformed("Policy has invalid action: \(action.prefix(80))") }
        }
        let resources = try strings(resourceValue, "Resource")
        for resource in resources {
            let arn = "arn:aws:s3:::"
            guard resource.hasPrefix(arn) else { throw malformed("Policy has invalid resource: \(resource.prefix(120))") }
            let path = resource.dropFirst(arn.count)
            let name = path.prefix { $0 != "/" }
            guard name == bucket else { throw malformed("Policy has invalid resource: \(resource.prefix(120)) is not in bucket \(bucket)") }
        }
        return Statement(sid: sid, effect: effect, principals: try principals(principal), actions: actions, resources: resources,
                         conditions: try conditions(fields["Condition"]))
    }

    private static func strings(_ value: Any, _ element: String) throws -> [String] {
        let list: [String]
        switch value {
        case let one as String: list = [one]
        case let many as [Any]:
            list = try many.map { item in
                guard let text = item as? String else { throw malformed("\(element) must hold strings.") }
                return text
            }
        default: throw malformed("\(element) must be a string or a list of strings.")
        }
        guard !list.isEmpty else { throw malformed("\(element) must not be empty.") }
        return list
    }

    private static func principals(_ value: Any) throws -> [Principal] {
        let names: [String]
        if let text = value as? String {
            names = [text]
        } else if let object = value as? [String: Any] {
            for name in object.keys where name != "AWS" {
                throw malformed("Principal \(name.prefix(40)) is not supported; Nuage's principals are given under \"AWS\".")
            }
            names = try strings(object["AWS"] ?? [], "Principal")
        } else {
            throw malformed("Invalid principal in policy")
        }
        return try names.map { name in
            let userPrefix = "arn:aws:iam::\(account):user/"
            if name == "*" { return .anyone }
            if name == account || name == "arn:aws:iam::\(account):root" { return .everyKey }
            if name.hasPrefix(userPrefix) { return try key(String(name.dropFirst(userPrefix.count))) }
            if name.hasPrefix("arn:aws:iam::") && name.hasSuffix(":root") {
                let owner = String(name.dropFirst("arn:aws:iam::".count).dropLast(":root".count))
                guard (try? Owner.validate(owner)) != nil else { throw malformed("Invalid principal in policy: \(name.prefix(80))") }
                return .owner(owner)
            }
            return try key(name)
        }
    }

    private static func key(_ id: String) throws -> Principal {
        guard (16...128).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw malformed("Invalid principal in policy: \(id.prefix(80))")
        }
        return .key(id)
    }

    private static func conditions(_ value: Any?) throws -> [Condition] {
        guard let value else { return [] }
        guard let operators = value as? [String: Any] else { throw malformed("Condition must be an object.") }
        var conditions: [Condition] = []
        // In a fixed order: JSON objects have none, and equal policies must compare equal.
        for (operator_, block) in operators.sorted(by: { $0.key < $1.key }) {
            guard let keys = block as? [String: Any] else { throw malformed("Condition \(operator_.prefix(40)) must be an object.") }
            for (name, raw) in keys.sorted(by: { $0.key < $1.key }) {
                let lowered = name.lowercased()
                let key = lowered.hasPrefix(existingObjectTag) ? existingObjectTag + name.dropFirst(existingObjectTag.count) : lowered
                let allowed = key.hasPrefix(existingObjectTag) ? stringOperators : conditionKeys[key]
                guard let allowed else {
                    throw malformed("Condition key \(name.prefix(80)) is not supported by Nuage; the policy was not stored.")
                }
                guard allowed.contains(operator_) else {
                    throw malformed("Condition operator \(operator_.prefix(40)) is not supported with \(name.prefix(80)) by Nuage; the policy was not stored.")
                }
                let values: [String] = try (raw as? [Any] ?? [raw]).map { item in
                    switch item {
                    case let text as String: return text
                    case let number as NSNumber:
                        // JSON's true and false come as Foundation's boolean NSNumber.
                        return type(of: number) == Self.jsonBoolean ? (number.boolValue ? "true" : "false") : number.stringValue
                    default: throw malformed("Condition values must be strings.")
                    }
                }
                guard !values.isEmpty else { throw malformed("Condition \(name.prefix(80)) has no value.") }
                if operator_.hasSuffix("IpAddress"), let bad = values.first(where: { IPRange($0) == nil }) {
                    throw malformed("Invalid IP address or CIDR block in aws:SourceIp: \(bad.prefix(60))")
                }
                conditions.append(Condition(operator_: operator_, key: key, values: values))
            }
        }
        return conditions
    }
}
