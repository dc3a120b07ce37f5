import Foundation

/// A small XML document read into a tree, for S3's XML (request bodies the gateway receives,
/// responses its S3 client reads).
///
/// The bytes come from outside (clients, providers), so the parser is Nuage's own, strict and
/// small (Foundation's XMLParser traps on some malformed names, found by fuzzing): UTF-8 only,
/// elements, attributes (read and ignored), text, the five predefined entities and character
/// references, CDATA sections, comments and processing instructions. It refuses what S3's
/// documents never need: nesting deeper than `maximumDepth`, more than `maximumElements`
/// elements, characters XML 1.0 forbids, and any markup declaration (`<!DOCTYPE`, hence no
/// entities, internal or external). The tree is flat storage (one array of elements that refer
/// to their children by index), so neither building nor freeing it recurses, whatever the input.
public struct XMLNode: Sendable {
    /// Deepest nesting accepted. S3's request bodies nest at most six levels
    /// (`LifecycleConfiguration/Rule/Filter/And/Tag/Key`).
    public static let maximumDepth = 32
    /// Most elements accepted in one document: a CompleteMultipartUpload of 10,000 parts with a
    /// checksum each has about 50,000.
    public static let maximumElements = 100_000

    private let document: Document
    private let index: Int

    private init(_ document: Document, _ index: Int) {
        self.document = document
        self.index = index
    }

    public var name: String { document.elements[index].name }
    /// The element's own text (not its children's), as parsed.
    public var text: String { document.elements[index].text }
    public var children: [XMLNode] { document.elements[index].children.map { XMLNode(document, $0) } }

    /// The document's root element, or nil when the bytes are not well-formed XML or exceed the
    /// limits above.
    public static func parse(_ data: Data) -> XMLNode? {
        var reader = Reader(Array(data))
        guard let elements = reader.document() else { return nil }
        return XMLNode(Document(elements), 0)
    }

    /// Direct children named `name`.
    public func all(_ name: String) -> [XMLNode] {
        document.elements[index].children.lazy.filter { self.document.elements[$0].name == name }.map { XMLNode(self.document, $0) }
    }
    /// The first direct child named `name`.
    public func first(_ name: String) -> XMLNode? {
        document.elements[index].children.first { document.elements[$0].name == name }.map { XMLNode(document, $0) }
    }
    /// The text of the first direct child named `name`, trimmed.
    public func value(_ name: String) -> String? { first(name)?.text.trimmingCharacters(in: .whitespacesAndNewlines) }

    fileprivate struct Element {
        var name: String
        var text = ""
        var children: [Int] = []
    }

    /// The elements of one parsed document; element 0 is the root.
    private final class Document: Sendable {
        let elements: [Element]
        init(_ elements: [Element]) { self.elements = elements }
    }
}

extension XMLNode {
    /// Reads one document into flat elements; nil at the first thing out of place.
    fileprivate struct Reader {
        let bytes: [UInt8]
        var i = 0
        var elements: [Element] = []
        var open: [Int] = []

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }  // a UTF-8 byte order mark
        }

        mutating func document() -> [Element]? {
            guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "<") {
                    guard markup() else { return nil }
                } else {
                    guard let text = text() else { return nil }
                    if let current = open.last {
                        elements[current].text += text
                    } else if !text.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }) {
                        return nil  // text outside the root element
                    }
                }
            }
            guard open.isEmpty, !elements.isEmpty else { return nil }
            return elements
        }

        func starts(with prefix: String) -> Bool { bytes[i...].starts(with: prefix.utf8) }

        /// Skips to just after `end`; false when it never comes.
        mutating func skip(past end: String) -> Bool {
            let end = Array(end.utf8)
            while i < bytes.count {
                if bytes[i] == end[0] && bytes[i...].starts(with: end) { i += end.count; return true }
                i += 1
            }
            return false
        }

        mutating func markup() -> Bool {
            if starts(with: "<!--") { i += 4; return skip(past: "-->") }
            if starts(with: "<![CDATA[") {
                i += 9
                let start = i
                guard skip(past: "]]>"), let current = open.last else { return false }
                guard let text = String(validating: bytes[start..<(i - 3)], as: UTF8.self), text.unicodeScalars.allSatisfy(Self.isXMLCharacter) else { return false }
                elements[current].text += text
                return true
            }
            if starts(with: "<!") { return false }  // DOCTYPE and every other declaration
            if starts(with: "<?") { i += 2; return skip(past: "?>") }
            if starts(with: "</") {
                i += 2
                guard let name = name(), let current = open.popLast(), elements[current].name == name else { return false }
                spaces()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ">") else { return false }
                i += 1
                return true
            }
            i += 1
            guard let name = name() else { return false }
            // A second root element, too deep or too many.
            guard !(open.isEmpty && !elements.isEmpty), open.count < XMLNode.maximumDepth,
                  elements.count < XMLNode.maximumElements else { return false }
            if let parent = open.last { elements[parent].children.append(elements.count) }
            elements.append(Element(name: name))
            while true {
                let spaced = spaces()
                guard i < bytes.count else { return false }
                if bytes[i] == UInt8(ascii: ">") { i += 1; open.append(elements.count - 1); return true }
                if starts(with: "/>") { i += 2; return true }
                guard spaced, attribute() else { return false }
            }
        }

        /// `name = "value"` (or single quotes); the value is checked, then dropped.
        mutating func attribute() -> Bool {
            guard name() != nil else { return false }
            spaces()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { return false }
            i += 1
            spaces()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'") else { return false }
            let quote = bytes[i]
            i += 1
            let start = i
            while i < bytes.count, bytes[i] != quote {
                guard bytes[i] != UInt8(ascii: "<") else { return false }
                i += 1
            }
            guard i < bytes.count, Self.decode(bytes[start..<i]) != nil else { return false }
            i += 1
            return true
        }

        @discardableResult
        mutating func spaces() -> Bool {
            let start = i
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
            return i > start
        }

        /// An XML name: a letter, `_`, `:` or any non-ASCII character first, then those, digits,
        /// `-` and `.`.
        mutating func name() -> String? {
            let start = i
            while i < bytes.count {
                let b = bytes[i]
                let letter = (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x3A || b >= 0x80
                let later = (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E
                guard letter || (i > start && later) else { break }
                i += 1
            }
            guard i > start, let name = String(validating: bytes[start..<i], as: UTF8.self) else { return nil }
            return name
        }

        /// Character data up to the next `<`, entities decoded.
        mutating func text() -> String? {
            let start = i
            while i < bytes.count, bytes[i] != UInt8(ascii: "<") { i += 1 }
            return Self.decode(bytes[start..<i])
        }

        /// Text with `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` and `&#N;` `&#xH;` decoded; nil for any
        /// other `&`, or a character XML 1.0 forbids.
        static func decode(_ raw: ArraySlice<UInt8>) -> String? {
            guard let text = String(validating: raw, as: UTF8.self) else { return nil }
            var out = String.UnicodeScalarView()
            var scalars = text.unicodeScalars[...]
            while let scalar = scalars.popFirst() {
                guard scalar == "&" else {
                    guard isXMLCharacter(scalar) else { return nil }
                    out.append(scalar)
                    continue
                }
                guard let end = scalars.prefix(12).firstIndex(of: ";") else { return nil }
                let entity = String(String.UnicodeScalarView(scalars[..<end]))
                scalars = scalars[scalars.index(after: end)...]
                let value: Unicode.Scalar?
                switch entity {
                case "lt": value = "<"
                case "gt": value = ">"
                case "amp": value = "&"
                case "quot": value = "\""
                case "apos": value = "'"
                default:
                    if entity.hasPrefix("#x"), let code = UInt32(entity.dropFirst(2), radix: 16) { value = Unicode.Scalar(code) }
                    else if entity.hasPrefix("#"), entity.dropFirst().allSatisfy(\.isASCII), let code = UInt32(entity.dropFirst()) { value = Unicode.Scalar(code) }
                    else { value = nil }
                }
                guard let value, isXMLCharacter(value) else { return nil }
                out.append(value)
            }
            return String(out)
        }

        /// XML 1.0's `Char`.
        static func isXMLCharacter(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
            default: false
            }
        }
    }
}
