/// A jurisdiction: an ISO 3166-1 alpha-2 country code, with the groups that count as one.
///
/// China, Hong Kong and Macao are one jurisdiction for placement (one government can compel
/// providers in all three), so `HK` and `MO` normalise to the group `CN`.
public struct Jurisdiction: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The code as written in the configuration (upper-cased).
    public let code: String

    /// Parses a two-letter country code.
    /// - Throws: `NuageError.configuration` when `code` is not an assigned ISO 3166-1 alpha-2
    ///   code (`ZZ`, `EU` and `UK` are not: the United Kingdom is `GB`).
    public init(_ code: String) throws {
        let upper = code.uppercased()
        guard upper.utf8.count == 2, upper.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw NuageError(.configuration, "'\(code)' is not an ISO 3166 two-letter country code")
        }
        guard Self.assigned.contains(upper) else {
            throw NuageError(.configuration, "'\(code)' is not an ISO 3166 country code: no country has it (the United Kingdom is GB)")
        }
        self.code = upper
    }

    /// Every officially assigned ISO 3166-1 alpha-2 code (249, as in Debian's iso-codes 4.15).
    static let assigned: Set<String> = [
        "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD", "BE",
        "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD",
        "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
        "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
        "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU",
        "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN",
        "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME",
        "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
        "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
        "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI",
        "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK",
        "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
        "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
    ]

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
