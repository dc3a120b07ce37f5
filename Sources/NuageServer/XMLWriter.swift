/// Builds the small XML documents S3 answers with, escaping text.
struct XMLWriter {
    private(set) var body = ""

    var document: String { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + body }

    mutating func open(_ name: String, namespace: Bool = false) {
        body += namespace ? "<\(name) xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" : "<\(name)>"
    }

    mutating func close(_ name: String) { body += "</\(name)>" }

    mutating func text(_ text: String) { body += Self.escape(text) }

    mutating func element(_ name: String, _ text: String) {
        body += "<\(name)>\(Self.escape(text))</\(name)>"
    }

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
            case "\u{9}", "\u{A}", "\u{D}": out.unicodeScalars.append(scalar)
            // Characters XML 1.0 cannot carry are written as references S3 clients decode.
            case _ where scalar.value < 0x20: out += "&#x\(String(scalar.value, radix: 16));"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
