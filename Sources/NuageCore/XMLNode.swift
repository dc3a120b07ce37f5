import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A small XML document read into a tree, for S3's XML (request bodies the gateway receives,
/// responses its S3 client reads).
///
/// The bytes come from outside (clients, providers), so the parser refuses what S3's documents
/// never need: nesting deeper than `maximumDepth`, more than `maximumElements` elements, and any
/// document type declaration (`<!DOCTYPE`, hence no entities, internal or external). The tree is
/// flat storage (one array of elements that refer to their children by index), so neither building
/// nor freeing it recurses, whatever the input.
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
        guard !declaresDocumentType(data) else { return nil }
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        parser.shouldResolveExternalEntities = false
        builder.parser = parser
        guard parser.parse(), builder.valid, builder.open.isEmpty, !builder.elements.isEmpty else { return nil }
        return XMLNode(Document(builder.elements), 0)
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

    /// True when the bytes hold a markup declaration (`<!` other than a comment or CDATA section).
    static func declaresDocumentType(_ data: Data) -> Bool {
        let open = Array("<!".utf8), comment = Array("<!--".utf8), cdata = Array("<![CDATA[".utf8)
        return data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
            var i = 0
            while i + 1 < bytes.count {
                if bytes[i] == open[0] && bytes[i + 1] == open[1] {
                    let rest = UnsafeRawBufferPointer(rebasing: bytes[i...])
                    if !rest.starts(with: comment) && !rest.starts(with: cdata) { return true }
                }
                i += 1
            }
            return false
        }
    }

    private struct Element {
        var name: String
        var text = ""
        var children: [Int] = []
    }

    /// The elements of one parsed document; element 0 is the root.
    private final class Document: Sendable {
        let elements: [Element]
        init(_ elements: [Element]) { self.elements = elements }
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        weak var parser: XMLParser?
        var elements: [Element] = []
        /// Indices of the elements open at this point, outermost first.
        var open: [Int] = []
        var valid = true

        func fail() {
            valid = false
            parser?.abortParsing()
        }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            guard valid else { return }
            // A second root element, too deep or too many.
            guard !(open.isEmpty && !elements.isEmpty), open.count < XMLNode.maximumDepth,
                  elements.count < XMLNode.maximumElements else { return fail() }
            if let parent = open.last { elements[parent].children.append(elements.count) }
            open.append(elements.count)
            elements.append(Element(name: name))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if valid, let current = open.last { elements[current].text += string }
        }

        func parser(_ parser: XMLParser, foundCDATA block: Data) {
            if valid, let current = open.last { elements[current].text += String(decoding: block, as: UTF8.self) }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard valid else { return }
            guard open.popLast() != nil else { return fail() }
        }

        func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) { valid = false }
    }
}
