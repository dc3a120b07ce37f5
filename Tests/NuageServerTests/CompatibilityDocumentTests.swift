import Foundation
@testable import NuageServer
import Testing

/// docs/COMPATIBILITY.md is what the table says: the two cannot drift.
@Suite struct CompatibilityDocumentTests {
    @Test func theDocumentIsGeneratedFromTheTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/COMPATIBILITY.md"), encoding: .utf8)
        #expect(document == S3Compatibility.markdown(), "regenerate it: nuage compatibility > docs/COMPATIBILITY.md")
    }

    @Test func everyRowIsInTheJSONTheEndToEndTestsDrive() throws {
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(S3Compatibility.json().utf8)) as? [[String: Any]])
        let names = Set(rows.compactMap { $0["name"] as? String })
        for name in ["x-amz-server-side-encryption-customer-key", "x-amz-object-lock-mode", "x-amz-tagging", "acl", "object-lock"] {
            #expect(names.contains(name))
        }
        #expect(rows.allSatisfy { row in row["support"] as? String != "refused" || (row["code"] as? String) != nil })
    }

    /// A name given two rules would keep only the first, silently (a row flipped to honored
    /// would stay refused, as x-amz-object-attributes once did).
    @Test func everyNameHasOneRule() throws {
        for names in [S3Compatibility.headers.map(\.name), S3Compatibility.parameters.map(\.name)] {
            #expect(Set(names).count == names.count, "\(Dictionary(grouping: names, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted())")
        }
    }
}
