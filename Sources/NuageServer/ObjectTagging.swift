import Foundation
import NuageCore

/// S3 object tags: at most 10 per object, keys of 1 to 128 and values of up to 256 Unicode
/// characters (letters, digits, white space and `+ - = . _ : / @`), no key twice, none starting
/// with `aws:`. They are stored with the object's metadata (`x-amz-tagging`, in the header's
/// query form), so they are encrypted, recovered and journaled with it, never seen by providers.
struct TagSet: Equatable, Sendable {
    static let metadataKey = "x-amz-tagging"
    static let maximumTags = 10
    /// A bucket's limit.
    static let maximumBucketTags = 50
    var tags: [(key: String, value: String)]

    static func == (lhs: TagSet, rhs: TagSet) -> Bool {
        lhs.tags.map(\.key) == rhs.tags.map(\.key) && lhs.tags.map(\.value) == rhs.tags.map(\.value)
    }

    /// `k1=v1&k2=v2`, percent-encoded, as `x-amz-tagging` carries it.
    /// - Throws: `InvalidTag` (S3's wording) for anything S3 refuses.
    init(header: String, maximum: Int = maximumTags) throws {
        var tags: [(String, String)] = []
        for pair in header.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = Self.decode(parts[0]), let value = parts.count > 1 ? Self.decode(parts[1]) : "" else {
                throw S3Error(.invalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
            }
            tags.append((key, value))
        }
        try self.init(checking: tags, maximum: maximum)
    }

    /// `<Tagging><TagSet><Tag><Key>…</Key><Value>…</Value></Tag>…</TagSet></Tagging>`.
    init(xml root: XMLNode, maximum: Int = maximumTags) throws {
        guard root.name == "Tagging", let set = root.first("TagSet") else { throw S3Error(.malformedXML) }
        var tags: [(String, String)] = []
        for tag in set.all("Tag") {
            guard let key = tag.first("Key")?.text, let value = tag.first("Value")?.text ?? (tag.first("Value") == nil ? nil : "") else {
                throw S3Error(.malformedXML)
            }
            tags.append((key, value))
        }
        try self.init(checking: tags, maximum: maximum)
    }

    init(checking tags: [(String, String)], maximum: Int = maximumTags) throws {
        guard tags.count <= maximum else {
            throw S3Error(.invalidTag, maximum == Self.maximumTags ? "Object tags cannot be greater than \(maximum)" : "Bucket tags cannot be greater than \(maximum)")
        }
        var seen = Set<String>()
        for (key, value) in tags {
            guard (1...128).contains(key.count) else { throw S3Error(.invalidTag, "The TagKey you have provided is too long, max 128") }
            guard value.count <= 256 else { throw S3Error(.invalidTag, "The TagValue you have provided is too long, max 256") }
            guard key.allSatisfy(Self.allowed) else { throw S3Error(.invalidTag, "The TagKey you have provided is invalid") }
            guard value.allSatisfy(Self.allowed) else { throw S3Error(.invalidTag, "The TagValue you have provided is invalid") }
            guard !key.lowercased().hasPrefix("aws:") else { throw S3Error(.invalidTag, "Your TagKey cannot be prefixed with aws:") }
            guard seen.insert(key).inserted else { throw S3Error(.invalidTag, "Cannot provide multiple Tags with the same key") }
        }
        self.tags = tags
    }

    static func allowed(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || character.isWhitespace || "+-=._:/@".contains(character)
    }

    /// The stored form: the header's, with keys and values percent-encoded.
    var stored: String {
        tags.map { "\(Self.encode($0.key))=\(Self.encode($0.value))" }.joined(separator: "&")
    }

    /// The tags of a stored object (none when it has none).
    static func of(_ metadata: [String: String]) -> TagSet { stored(metadata[metadataKey]) }

    /// Tags in their stored form (none for nil).
    static func stored(_ text: String?, maximum: Int = maximumBucketTags) -> TagSet {
        (text.flatMap { try? TagSet(header: $0, maximum: maximum) }) ?? TagSet(unchecked: [])
    }

    private init(unchecked tags: [(key: String, value: String)]) { self.tags = tags }

    func xml() -> XMLWriter {
        var xml = XMLWriter()
        xml.open("Tagging", namespace: true)
        xml.open("TagSet")
        for (key, value) in tags {
            xml.open("Tag")
            xml.element("Key", key)
            xml.element("Value", value)
            xml.close("Tag")
        }
        xml.close("TagSet")
        xml.close("Tagging")
        return xml
    }

    private static func decode(_ text: Substring) -> String? {
        String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    private static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }
}
