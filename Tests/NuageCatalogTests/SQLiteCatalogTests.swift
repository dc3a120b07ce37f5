import Foundation
import NuageCatalog
import NuageCore
import NuageTestSupport
import Testing

@Suite struct SQLiteCatalogTests {
    @Test(arguments: CatalogConformance.names)
    func conformance(_ check: String) async throws {
        let directory = NSTemporaryDirectory() + "nuage-catalog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await CatalogConformance.run(check, on: SQLiteCatalog(path: directory + "/catalog.sqlite"))
    }

    @Test func survivesReopening() async throws {
        let directory = NSTemporaryDirectory() + "nuage-catalog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/catalog.sqlite"
        let record = CatalogConformance.record(key: "persisted")
        do {
            let catalog = try SQLiteCatalog(path: path)
            try await catalog.createBucket("b")
            try await CatalogConformance.put(catalog, record)
        }
        let reopened = try SQLiteCatalog(path: path)
        #expect(try await reopened.object(bucket: "b", key: "persisted") == record)
    }

    @Test func unreadableFileIsAConfigurationError() throws {
        let directory = NSTemporaryDirectory() + "nuage-catalog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        FileManager.default.createFile(atPath: directory + "/catalog.sqlite", contents: Data(repeating: 0x41, count: 4096))
        #expect { try SQLiteCatalog(path: directory + "/catalog.sqlite") } throws: { ($0 as? NuageError)?.code == .configuration }
    }

    @Test func successorOfPrefixes() {
        #expect(KeyRange.successor(of: [0x61]) == [0x62])
        #expect(KeyRange.successor(of: [0x61, 0xFF]) == [0x62])
        #expect(KeyRange.successor(of: [0xFF, 0xFF]) == nil)
        #expect(KeyRange.successor(of: []) == nil)
    }
}
