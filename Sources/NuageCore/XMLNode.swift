import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A small XML document read into a tree, for S3's XML (request bodies the gateway receives,
/// responses its S3 client reads). External entities are never resolved; callers bound the size.
public struct XMLNode: Sendable {
    public var name: String
    public var text = ""
    public var children: [XMLNode] = []

    /// The document's root element, or nil when the bytes are not well-formed XML.
    public static func parse(_ data: Data) -> XMLNode? {
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        parser.shouldResolveExternalEntities = false
        guard parser.parse(), builder.valid else { return nil }
        return builder.root
    }

    /// Direct children named `name`.
    public func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }
    /// The first direct child named `name`.
    public func first(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    /// The text of the first direct child named `name`, trimmed.
    public func value(_ name: String) -> String? { first(name)?.text.trimmingCharacters(in: .whitespacesAndNewlines) }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [XMLNode] = []
        var root: XMLNode?
        var valid = true

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if root != nil { valid = false }
            stack.append(XMLNode(name: name))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if !stack.isEmpty { stack[stack.count - 1].text += string }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard let node = stack.popLast() else { valid = false; return }
            if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
        }

        func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) { valid = false }
    }
}
