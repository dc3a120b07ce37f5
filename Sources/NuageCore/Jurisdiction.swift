/// A jurisdiction: an ISO 3166-1 alpha-2 country code, with the groups that count as one.
///
/// China, Hong Kong and Macao are one jurisdiction for placement (one government can compel
/// providers in all three), so `HK` and `MO` normalise to the group `CN`.
public struct Jurisdiction: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The code as written in the configuration (upper-cased).
    public let code: String

    /// Parses a two-letter country code.
    /// - Throws: `NuageError.configuration` when `code` is not two ASCII letters.
    public init(_ code: String) throws {
        let upper = code.uppercased()
        guard upper.utf8.count == 2, upper.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw NuageError(.configuration, "'\(code)' is not an ISO 3166 two-letter country code")
        }
        self.code = upper
    }

    /// The jurisdiction this one counts as (CN for CN, HK and MO; itself otherwise).
    public var group: String { Self.groups[code] ?? code }

    public var description: String { code }

    public static func < (a: Jurisdiction, b: Jurisdiction) -> Bool { a.code < b.code }

    private static let groups = ["HK": "CN", "MO": "CN"]
}

/// Named lists of jurisdictions that a policy can deny.
public enum JurisdictionPreset {
    /// The "foreign adversary" list of the US ICTS rule, 15 CFR 791.4 (formerly 7.4):
    /// China (with Hong Kong and Macao), Cuba, Iran, North Korea, Russia and Venezuela.
    public static let usICTS = ["CN", "HK", "MO", "CU", "IR", "KP", "RU", "VE"]

    /// Every preset by the name used in `deny = [...]`, with the source it follows.
    public static let all: [String: (codes: [String], source: String)] = [
        "us-icts": (usICTS, "15 CFR 791.4 foreign adversaries"),
    ]
}
