import NuageCore

/// Builds the small XML documents S3 answers with, escaping text.
struct XMLWriter {
    private(set) var body = ""

    var document: String { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + body }

    mutating func open(_ name: String, namespace: Bool = false) {
        body += namespace ? "<\(name) xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" : "<\(name)>"
    }

    /// An element with attributes (names as given, values escaped).
    mutating func open(_ name: String, attributes: [(name: String, value: String)]) {
        body += "<\(name)" + attributes.map { " \($0.name)=\"\(Self.escape($0.value))\"" }.joined() + ">"
    }

    mutating func close(_ name: String) { body += "</\(name)>" }

    mutating func text(_ text: String) { body += Self.escape(text) }

    mutating func element(_ name: String, _ text: String) {
        body += "<\(name)>\(Self.escape(text))</\(name)>"
    }

    /// Escapes markup characters. XML 1.0 cannot carry most control characters at all, not even as
    /// references, so they become U+FFFD (keys cannot hold them; an error's `Resource` can);
    /// a carriage return is written as a reference, which parsers keep (a literal one becomes a
    /// line feed).
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\u{9}", "\u{A}": out.unicodeScalars.append(scalar)
            case "\u{D}": out += "&#xD;"
            case _ where !ObjectNames.xmlCanCarry(scalar): out.unicodeScalars.append("\u{FFFD}")
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
