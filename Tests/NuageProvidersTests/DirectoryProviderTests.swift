import Foundation
import NuageCore
import NuageProviders
import NuageTestSupport
import Testing

/// A fresh temporary directory, removed by the caller.
func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "nuage-test-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct DirectoryProviderTests {
    @Test(arguments: ProviderConformance.names)
    func conformance(_ check: String) async throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await ProviderConformance.run(check, on: DirectoryProvider(name: "dir", root: root + "/p"))
    }

    @Test func nothingIsWrittenOutsideTheRoot() async throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let provider = try DirectoryProvider(name: "dir", root: root + "/p")
        for name in ["../outside", "../../outside", "x/../../outside"] {
            await #expect(throws: ProviderError.self) { try await provider.put(name, bytes: [1]) }
        }
        try await provider.put("inside", bytes: [1, 2])
        let top = try FileManager.default.contentsOfDirectory(atPath: root)
        #expect(top == ["p"], "only the provider root exists under the parent")
        #expect(FileManager.default.fileExists(atPath: root + "/p/in/inside"))
    }

    @Test func blobsAreNotWorldReadable() async throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let provider = try DirectoryProvider(name: "dir", root: root)
        try await provider.put("secret", bytes: [1])
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/se/secret")
        #expect((attributes[.posixPermissions] as? Int ?? 0o777) & 0o077 == 0)
    }

    /// Temporary files of killed puts go once untouched for the age given, and only those.
    @Test func abandonedTemporariesAreRemovedByAge() async throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let provider = try DirectoryProvider(name: "dir", root: root)
        try await provider.put("blob", bytes: [1, 2, 3])
        let old = root + "/.tmp/killed.1", recent = root + "/.tmp/running.2"
        #expect(FileManager.default.createFile(atPath: old, contents: Data([9])))
        #expect(FileManager.default.createFile(atPath: recent, contents: Data([8])))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: old)
        #expect(try await provider.removeAbandonedWrites(olderThan: .seconds(3600)) == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/.tmp") == ["running.2"])
        #expect(try await provider.removeAbandonedWrites(olderThan: .zero) == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/.tmp").isEmpty)
        #expect(try await provider.get("blob", range: nil).bytes == [1, 2, 3])
    }
}
