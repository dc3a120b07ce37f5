import Foundation
import NuageCore
import Testing

/// Manifests in the catalog and the journal: byte strings as base64, and the arrays of
/// numbers that earlier catalogs and journal blobs hold still read.
@Suite struct ManifestCodingTests {
    let manifest = Manifest(format: 2, versionID: Array(0..<16), size: 6, segmentSize: 1 << 20, dataShards: 4, parityShards: 2,
                            keyID: 3_716_260_488, wrappedKey: Array(100..<160), wrappedTagKey: Array(160..<220),
                            customerKeyCheck: Array(repeating: 9, count: 32),
                            shards: [BlobRef(provider: "us-east", blob: "551f82155ac28c206872086c7a2f0fa9"), nil])

    @Test func byteStringsAreBase64AndReadBack() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(manifest), as: UTF8.self)
        #expect(json.contains(#""versionID":"AAECAwQFBgcICQoLDA0ODw==""#), "\(json)")
        #expect(try JSONDecoder().decode(Manifest.self, from: Data(json.utf8)) == manifest)
        var plain = manifest
        plain.wrappedTagKey = nil
        plain.customerKeyCheck = nil
        let plainJSON = try encoder.encode(plain)
        #expect(!String(decoding: plainJSON, as: UTF8.self).contains("customerKeyCheck"))
        #expect(try JSONDecoder().decode(Manifest.self, from: plainJSON) == plain)
    }

    @Test func arraysOfNumbersStillRead() throws {
        // As format-1 catalogs wrote it (docs/FORMAT.md before byte strings became base64).
        let old = #"{"dataShards":4,"format":1,"keyID":7,"parityShards":2,"segmentSize":1048576,"shards":[{"blob":"ab","provider":"p"}],"size":6,"versionID":[1,2,3],"wrappedKey":[4,5]}"#
        let decoded = try JSONDecoder().decode(Manifest.self, from: Data(old.utf8))
        #expect(decoded.versionID == [1, 2, 3] && decoded.wrappedKey == [4, 5] && decoded.wrappedTagKey == nil && decoded.customerKeyCheck == nil)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Manifest.self, from: Data(old.replacingOccurrences(of: "[1,2,3]", with: "\"%%%\"").utf8))
        }
    }
}
