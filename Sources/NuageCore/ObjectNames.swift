/// Naming rules for buckets and object keys (S3's rules, plus a refusal of `..` segments).
public enum ObjectNames {
    /// Checks a bucket name against S3's rules: 3–63 characters of `a-z 0-9 . -`, starting and
    /// ending with a letter or digit, no `..`, not shaped like an IP address.
    /// - Throws: `NuageError.invalidBucketName` saying which rule failed.
    public static func validateBucket(_ name: String) throws {
        let bytes = Array(name.utf8)
        func fail(_ why: String) -> NuageError { NuageError(.invalidBucketName, "invalid bucket name '\(name.prefix(80))': \(why)") }
        guard (3...63).contains(bytes.count) else { throw fail("must be 3 to 63 characters long") }
        let allowed: (UInt8) -> Bool = { (97...122).contains($0) || (48...57).contains($0) || $0 == 46 || $0 == 45 }
        guard bytes.allSatisfy(allowed) else { throw fail("only lowercase letters, digits, '.' and '-' are allowed") }
        let alnum: (UInt8) -> Bool = { (97...122).contains($0) || (48...57).contains($0) }
        guard alnum(bytes.first!), alnum(bytes.last!) else { throw fail("must start and end with a letter or digit") }
        guard !name.contains("..") else { throw fail("must not contain '..'") }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) {
            throw fail("must not be formatted as an IP address")
        }
        if name.hasPrefix("xn--") || name.hasSuffix("-s3alias") { throw fail("reserved prefix or suffix") }
    }

    /// The longest key S3 accepts, in UTF-8 bytes.
    public static let maxKeyBytes = 1024

    /// Checks an object key: 1–1024 bytes of UTF-8, no NUL, no `..` path segment, and only
    /// characters XML 1.0 can carry (listings and errors are XML; AWS accepts control characters in
    /// keys and then lists them in documents that XML parsers reject).
    /// - Throws: `NuageError.keyTooLong`, or `NuageError.invalidKey` saying which rule failed.
    public static func validateKey(_ key: String) throws {
        let count = key.utf8.count
        func fail(_ why: String) -> NuageError { NuageError(.invalidKey, "invalid object key: \(why)") }
        guard count > 0 else { throw fail("must not be empty") }
        guard count <= maxKeyBytes else {
            throw NuageError(.keyTooLong, "invalid object key: \(count) bytes is longer than \(maxKeyBytes)")
        }
        guard !key.utf8.contains(0) else { throw fail("must not contain NUL") }
        if let bad = key.unicodeScalars.first(where: { !xmlCanCarry($0) }) {
            let hex = String(bad.value, radix: 16, uppercase: true)
            throw fail("must not contain U+\(String(repeating: "0", count: max(0, 4 - hex.count)))\(hex), which XML 1.0 cannot carry")
        }
        if key.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == ".." }) {
            throw fail("must not contain a '..' path segment")
        }
    }

    /// True when XML 1.0 can carry `scalar` in text (tab, line feed, carriage return, and
    /// everything from U+0020 but U+FFFE and U+FFFF).
    public static func xmlCanCarry(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD: true
        case 0..<0x20, 0xFFFE, 0xFFFF: false
        default: true
        }
    }
}
