import Foundation

/// The policy document of a browser-based upload (POST Object): when it expires and the
/// conditions the form must meet, as AWS documents them: `{"field": "value"}` and
/// `["eq", "$field", "value"]` (exact), `["starts-with", "$field", "prefix"]` (`""` for any
/// value), `["content-length-range", min, max]`. Every field of the form but the signature,
/// the policy, the file and `x-ignore-*` must be named by a condition.
struct PostPolicy: Sendable {
    enum Condition: Sendable, Equatable {
        case equals(String, String)
        case startsWith(String, String)
        case contentLength(Int64, Int64)
    }

    var expiration: Date
    var conditions: [Condition]

    /// Fields no condition needs to name.
    static let exempt: Set<String> = ["policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"]

    /// - Throws: `InvalidPolicyDocument` for what is not a policy.
    init(base64 text: String) throws {
        guard text.utf8.count <= 64 * 1024, let data = Data(base64Encoded: text),
              let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw S3Error(.invalidPolicyDocument, "Invalid Policy: Invalid JSON.")
        }
        guard let expiration = (document["expiration"] as? String).flatMap(Self.date) else {
            throw S3Error(.invalidPolicyDocument, "Invalid Policy: Policy missing expiration, or it is not an ISO 8601 UTC time.")
        }
        guard let list = document["conditions"] as? [Any] else {
            throw S3Error(.invalidPolicyDocument, "Invalid Policy: Policy missing conditions.")
        }
        self.expiration = expiration
        conditions = try list.map(Self.condition)
    }

    private static func condition(_ item: Any) throws -> Condition {
        if let object = item as? [String: Any] {
            guard object.count == 1, let (name, value) = object.first, let text = value as? String else {
                throw S3Error(.invalidPolicyDocument, "Invalid Policy: Invalid Simple-Condition: value must be a string.")
            }
            return .equals(name.lowercased(), text)
        }
        guard let array = item as? [Any], array.count == 3, let kind = (array[0] as? String)?.lowercased() else {
            throw S3Error(.invalidPolicyDocument, "Invalid Policy: Invalid condition.")
        }
        if kind == "content-length-range" {
            guard let low = (array[1] as? NSNumber)?.int64Value, let high = (array[2] as? NSNumber)?.int64Value, 0 <= low, low <= high else {
                throw S3Error(.invalidPolicyDocument, "Invalid Policy: Invalid content-length-range.")
            }
            return .contentLength(low, high)
        }
        guard let field = array[1] as? String, field.hasPrefix("$"), let value = array[2] as? String else {
            throw S3Error(.invalidPolicyDocument, "Invalid Policy: Invalid condition: fields are named $field and compared with strings.")
        }
        let name = String(field.dropFirst()).lowercased()
        switch kind {
        case "eq": return .equals(name, value)
        case "starts-with": return .startsWith(name, value)
        default: throw S3Error(.invalidPolicyDocument, "Invalid Policy: Invalid condition operator \(kind.prefix(30)).")
        }
    }

    /// Checks the form against the policy.
    /// - Parameters:
    ///   - values: the form's fields (names lowercased), with `bucket` added.
    ///   - size: the file's size.
    /// - Throws: `403 AccessDenied` ("Invalid according to Policy: …") for an expired policy, a
    ///   condition that fails or a field no condition names; `EntityTooLarge`/`EntityTooSmall`
    ///   for a size outside content-length-range.
    func check(_ values: [String: String], size: Int64, now: Date) throws {
        guard now < expiration else { throw S3Error(.accessDenied, "Invalid according to Policy: Policy expired.") }
        var named = Set<String>()
        for condition in conditions {
            switch condition {
            case .equals(let name, let expected):
                named.insert(name)
                guard values[name] == expected else {
                    throw S3Error(.accessDenied, "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$\(name.prefix(60))\", \"\(expected.prefix(100))\"]")
                }
            case .startsWith(let name, let prefix):
                named.insert(name)
                guard let value = values[name], Self.starts(value, with: prefix, field: name) else {
                    throw S3Error(.accessDenied, "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$\(name.prefix(60))\", \"\(prefix.prefix(100))\"]")
                }
            case .contentLength(let low, let high):
                if size > high { throw S3Error(.entityTooLarge, "Your proposed upload exceeds the maximum allowed size") }
                if size < low { throw S3Error(.entityTooSmall, "Your proposed upload is smaller than the minimum allowed size") }
            }
        }
        let extra = values.keys.filter { !named.contains($0) && !Self.exempt.contains($0) && !$0.hasPrefix("x-ignore-") && $0 != "bucket" }.sorted()
        guard extra.isEmpty else {
            throw S3Error(.accessDenied, "Invalid according to Policy: Extra input fields: \(extra.joined(separator: ", ").prefix(200))")
        }
    }

    /// `starts-with` on Content-Type holds for each of several comma-separated types.
    private static func starts(_ value: String, with prefix: String, field: String) -> Bool {
        guard field == "content-type" else { return value.hasPrefix(prefix) }
        return value.split(separator: ",").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }
    }

    /// `2026-12-07T12:00:00Z` or `2026-12-07T12:00:00.000Z`, parsed by hand (client bytes).
    static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 20 || bytes.count == 24, bytes.last == UInt8(ascii: "Z"), bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            guard bytes[range].allSatisfy({ (48...57).contains($0) }) else { return nil }
            return bytes[range].reduce(0) { $0 * 10 + Int($1 - 48) }
        }
        if bytes.count == 24 { guard bytes[19] == UInt8(ascii: "."), number(20..<23) != nil else { return nil } }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
              let minute = number(14..<16), let second = number(17..<19), (1970...9999).contains(year), (1...12).contains(month),
              (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "GMT")!
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))
    }
}
