import Foundation
import NuageCore
@testable import NuageProviders
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

    /// A small read whose bytes are all cached is answered on the calling thread, with the bytes
    /// the blocking read gives; what is not cached, not there or too short is left to the
    /// blocking read, which reads it or says what is wrong.
    @Test func cachedReadsAnswerOnlyFromTheCaches() async throws {
        let root = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let provider = try DirectoryProvider(name: "dir", root: root)
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try await provider.put("hot", bytes: data)
        let path = root + "/ho/hot"
        let cached = try #require(DirectoryProvider.readCached(path, range: 100..<5_000), "a blob just written is in the page cache (\(root))")
        #expect(cached.bytes == Array(data[100..<5_000]))
        #expect(DirectoryProvider.readCached(path, range: 9_000..<10_001) == nil, "past the end")
        #expect(DirectoryProvider.readCached(root + "/mi/missing", range: 0..<1) == nil)
        await #expect(throws: ProviderError.self) { _ = try await provider.get("hot", range: 9_000..<10_001) }
        // Dropped from the page cache (its pages are clean after the put's fsync), the bytes would
        // wait for the disk: not read on the calling thread, but still read.
        let fd = open(path, O_RDONLY)
        #expect(posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED)) == 0)
        close(fd)
        #expect(DirectoryProvider.readCached(path, range: 100..<5_000) == nil)
        #expect(try await provider.get("hot", range: 100..<5_000).bytes == Array(data[100..<5_000]))
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
