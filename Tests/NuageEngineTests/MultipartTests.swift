import Crypto
import Foundation
import NuageCatalog
import NuageCore
@testable import NuageEngine
import Testing

@Suite struct MultipartTests {
    static let partSize = Int(Engine.minimumPartSize)

    @Test func completedUploadReadsAsTheConcatenationOfItsParts() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let upload = try await f.engine.createUpload(bucket: "bkt", key: "big", metadata: ["content-type": "video/mp4"])
        let one = bytes(Self.partSize, seed: 1), two = bytes(Self.partSize + 3, seed: 2), three = bytes(1234, seed: 3)
        // Out of order, and part 2 uploaded twice: the second replaces the first.
        let p3 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "big", number: 3, size: 1234, body: BytesBody(three))
        _ = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "big", number: 2, size: 10, body: BytesBody(bytes(10, seed: 9)))
        let p2 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "big", number: 2, size: Int64(two.count), body: BytesBody(two))
        let p1 = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "big", number: 1, size: Int64(one.count), body: BytesBody(one))
        #expect(p1.etag == Array(Insecure.MD5.hash(data: one)).hex)
        #expect(try await f.engine.parts(uploadID: upload.id, bucket: "bkt", key: "big").map(\.number) == [1, 2, 3])

        let record = try await f.engine.completeUpload(uploadID: upload.id, bucket: "bkt", key: "big",
                                                       parts: [(1, p1.etag), (2, p2.etag), (3, p3.etag)])
        let whole = one + two + three
        var digests = Insecure.MD5()
        for part in [one, two, three] { digests.update(data: Array(Insecure.MD5.hash(data: part))) }
        #expect(record.etag == Array(digests.finalize()).hex + "-3")
        #expect(record.size == Int64(whole.count))
        #expect(record.parts.count == 3)
        #expect(try await f.engine.head(bucket: "bkt", key: "big").metadata["content-type"] == "video/mp4")
        #expect(try await f.engine.getBytes(bucket: "bkt", key: "big") == whole)
        // Ranges inside one part, across a boundary, across all three, and the last byte.
        let boundary = Int64(Self.partSize)
        for range in [Int64(5)..<Int64(100), boundary - 10..<boundary + 10, 3..<Int64(whole.count) - 3,
                      Int64(whole.count) - 1..<Int64(whole.count), boundary..<boundary + Int64(two.count)] {
            #expect(try await f.engine.getBytes(bucket: "bkt", key: "big", range: range) == Array(whole[Int(range.lowerBound)..<Int(range.upperBound)]))
        }
        // The replaced part 2 was deleted; the upload is gone.
        #expect(f.providerFiles().count == 3 * 6)
        await #expect { try await f.engine.parts(uploadID: upload.id, bucket: "bkt", key: "big") } throws: { code($0) == .noSuchUpload }
        // Deleting the object deletes every part's blobs.
        try await f.engine.delete(bucket: "bkt", key: "big")
        #expect(f.providerFiles().isEmpty)
    }

    @Test func completionChecksPartsAndLeavesTheUploadOnError() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let upload = try await f.engine.createUpload(bucket: "bkt", key: "k")
        let small = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "k", number: 1, size: 100, body: BytesBody(bytes(100, seed: 1)))
        let big = try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "k", number: 2, size: Int64(Self.partSize),
                                                body: BytesBody(bytes(Self.partSize, seed: 2)))
        @discardableResult
        func complete(_ parts: [(number: Int, etag: String)]) async throws -> ObjectRecord {
            try await f.engine.completeUpload(uploadID: upload.id, bucket: "bkt", key: "k", parts: parts)
        }
        await #expect { try await complete([(2, big.etag), (1, small.etag)]) } throws: { code($0) == .invalidPartOrder }
        await #expect { try await complete([(1, small.etag), (1, small.etag)]) } throws: { code($0) == .invalidPartOrder }
        await #expect { try await complete([(1, big.etag)]) } throws: { code($0) == .invalidPart }
        await #expect { try await complete([(3, big.etag)]) } throws: { code($0) == .invalidPart }
        await #expect { try await complete([]) } throws: { code($0) == .invalidPart }
        await #expect { try await complete([(1, small.etag), (2, big.etag)]) } throws: { code($0) == .entityTooSmall }
        await #expect { try await f.engine.completeUpload(uploadID: upload.id, bucket: "bkt", key: "other", parts: [(2, big.etag)]) }
            throws: { code($0) == .noSuchUpload }
        for number in [0, 10_001] {
            await #expect { try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "k", number: number, size: 1, body: BytesBody([1])) }
                throws: { code($0) == .invalidArgument }
        }
        // A part body shorter than declared stores nothing and keeps the earlier part 1.
        await #expect { try await f.engine.uploadPart(uploadID: upload.id, bucket: "bkt", key: "k", number: 1, size: 50, body: BytesBody(bytes(49, seed: 3))) }
            throws: { code($0) == .incompleteBody }
        #expect(try await f.engine.parts(uploadID: upload.id, bucket: "bkt", key: "k").first?.etag == small.etag)
        #expect(try await f.engine.catalog.object(bucket: "bkt", key: "k") == nil)
        // Only the last part may be small.
        let record = try await complete([(2, big.etag)])
        #expect(record.size == Int64(Self.partSize))
        #expect(f.providerFiles().count == 6, "the unused part 1 was deleted")
    }

    @Test func abortAndExpiryDeleteParts() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        let aborted = try await f.engine.createUpload(bucket: "bkt", key: "a")
        try await f.engine.uploadPart(uploadID: aborted.id, bucket: "bkt", key: "a", number: 1, size: 10, body: BytesBody(bytes(10, seed: 1)))
        try await f.engine.abortUpload(uploadID: aborted.id, bucket: "bkt", key: "a")
        #expect(f.providerFiles().isEmpty)
        await #expect { try await f.engine.abortUpload(uploadID: aborted.id, bucket: "bkt", key: "a") } throws: { code($0) == .noSuchUpload }
        await #expect { try await f.engine.uploadPart(uploadID: aborted.id, bucket: "bkt", key: "a", number: 1, size: 1, body: BytesBody([1])) }
            throws: { code($0) == .noSuchUpload }

        let old = try await f.engine.createUpload(bucket: "bkt", key: "b")
        try await f.engine.uploadPart(uploadID: old.id, bucket: "bkt", key: "b", number: 1, size: 10, body: BytesBody(bytes(10, seed: 2)))
        // gc keeps parts of uploads in progress, and expires them once old enough.
        var report = try await f.engine.collectGarbage(grace: .seconds(0), uploadExpiry: .seconds(3600))
        #expect(report.expiredUploads == 0 && report.deletedOrphans == 0)
        #expect(f.providerFiles().count == 6)
        try await Task.sleep(for: .milliseconds(1100))
        report = try await f.engine.collectGarbage(grace: .seconds(0), uploadExpiry: .seconds(1))
        #expect(report.expiredUploads == 1)
        #expect(f.providerFiles().isEmpty)
        #expect(try await f.engine.listUploads(bucket: "bkt").isEmpty)
    }

    @Test func uploadIdsListInCreationOrder() async throws {
        let f = try await EngineFixture()
        defer { f.cleanUp() }
        try await f.engine.createBucket("bkt")
        var ids: [String] = []
        for _ in 0..<3 {
            ids.append(try await f.engine.createUpload(bucket: "bkt", key: "same").id)
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(try await f.engine.listUploads(bucket: "bkt").map(\.id) == ids)
    }

    func code(_ error: any Error) -> NuageError.Code? { (error as? NuageError)?.code }
}
