import Foundation
import NIOCore
import NuageCore
import NuageProviders
import NuageS3Client
import NuageSigV4
import NuageTestSupport
import Testing

/// The S3-compatible provider against real S3 servers: `rclone serve s3` and `moto_server`.
@Suite struct S3ProviderTests {
    func provider(_ kind: LocalS3Server.Kind, threshold: Int64 = 256 << 20) async throws -> S3Provider {
        let server = try await LocalS3Server.shared(kind)
        return S3Provider(name: "s3-\(kind)", client: try server.client(), bucket: try await server.freshBucket(),
                          keyPrefix: "nuage/", multipartThreshold: threshold, partSize: 5 << 20)
    }

    @Test(arguments: LocalS3Server.Kind.allCases, ProviderConformance.names)
    func conformance(_ kind: LocalS3Server.Kind, _ check: String) async throws {
        try await ProviderConformance.run(check, on: provider(kind))
    }

    @Test(arguments: LocalS3Server.Kind.allCases)
    func largeBlobsGoUpAsMultipartUploads(_ kind: LocalS3Server.Kind) async throws {
        let p = try await provider(kind, threshold: 6 << 20)
        let blocks = (0..<13).map { index in ByteBlock((0..<(1 << 20) + index).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) }) }
        let total = blocks.reduce(0) { $0 + $1.count }
        try await p.put("large", length: Int64(total), body: blocks.async)
        #expect(try await p.head("large").size == Int64(total))
        #expect(try await p.get("large", range: nil).bytes == blocks.flatMap(\.bytes))
        let tail = Int64(total - 10)..<Int64(total)
        #expect(try await p.get("large", range: tail).bytes == Array(blocks.flatMap(\.bytes)[Int(tail.lowerBound)...]))
        // A large body that is short stores nothing.
        await #expect { try await p.put("large-short", length: Int64(total) + 1, body: blocks.async) }
            throws: { ($0 as? ProviderError)?.kind == .invalidArgument }
        #expect(try await p.listAll().map(\.name) == ["large"])
    }

    /// A killed put's multipart upload is aborted once older than the age given; uploads
    /// outside the provider's prefix and recent ones stay.
    @Test(arguments: LocalS3Server.Kind.allCases)
    func abandonedMultipartUploadsAreAborted(_ kind: LocalS3Server.Kind) async throws {
        let p = try await provider(kind)
        let stale = try await p.client.createUpload(bucket: p.bucket, key: "nuage/killed-blob")
        _ = try await p.client.uploadPart(bucket: p.bucket, key: "nuage/killed-blob", uploadID: stale, number: 1,
                                          body: ByteBuffer(bytes: [UInt8](repeating: 7, count: 1000)))
        let outside = try await p.client.createUpload(bucket: p.bucket, key: "elsewhere/x")
        let listed = try await p.client.listUploads(bucket: p.bucket, prefix: "nuage/")
        #expect(listed.map(\.id) == [stale])
        // moto_server reports every upload as created on 2010-11-10; real servers tell the time.
        if let initiated = listed.first?.initiated, abs(initiated.timeIntervalSinceNow) < 600 {
            #expect(try await p.removeAbandonedWrites(olderThan: .seconds(3600)) == 0, "a recent upload stays")
        } else {
            #expect(kind == .moto, "\(kind) gave no usable creation time: \(listed)")
        }
        try await Task.sleep(for: .milliseconds(1100))  // servers may keep whole seconds
        #expect(try await p.removeAbandonedWrites(olderThan: .zero) == 1)
        #expect(try await p.client.listUploads(bucket: p.bucket, prefix: "nuage/").isEmpty)
        #expect(try await p.client.listUploads(bucket: p.bucket, prefix: "").map(\.id) == [outside])
    }

    @Test(arguments: LocalS3Server.Kind.allCases)
    func errorsAreClassified(_ kind: LocalS3Server.Kind) async throws {
        let server = try await LocalS3Server.shared(kind)
        let bucket = try await server.freshBucket()
        func kindOf(_ body: () async throws -> Void) async -> ProviderError.Kind? {
            do { try await body(); return nil } catch { return (error as? ProviderError)?.kind }
        }
        if kind == .rclone {  // moto accepts any credentials
            let wrong = S3Provider(name: "wrong", client: try S3Client(endpoint: server.endpoint,
                                                                       signer: SigV4Signer(accessKey: server.accessKey, secretKey: "wrong")),
                                   bucket: bucket)
            #expect(await kindOf { try await wrong.put("x", bytes: [1]) } == .permissionDenied)
        }
        let noBucket = S3Provider(name: "nobucket", client: try server.client(), bucket: "no-such-bucket-\([UInt8].random(count: 4).hex)")
        #expect(await kindOf { _ = try await noBucket.get("x", range: nil) } != nil)
        let closed = S3Provider(name: "closed", client: try S3Client(endpoint: "http://127.0.0.1:\(try LocalS3ServerPort.unused())",
                                                                      signer: SigV4Signer(accessKey: "a", secretKey: "b")), bucket: "b")
        #expect(await kindOf { _ = try await closed.head("x") } == .unavailable)
    }
}

/// HTTPS providers with a private CA: trusted through `ca-file`, refused without it.
@Suite struct S3ProviderTLSTests {
    @Test func aCustomCertificateAuthorityIsTrustedOnlyWhenConfigured() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0, "openssl could not make a test certificate")
        let server = try await LocalS3Server.start(.rclone, tls: (directory + "/cert.pem", directory + "/key.pem"))
        defer { server.stop() }
        #expect(server.endpoint.hasPrefix("https://"))
        let trusting = S3Client.makeHTTPClient(caFile: directory + "/cert.pem")
        let bucket = "tls-bucket"
        do {
            try await server.client(http: trusting).createBucket(bucket)
            let provider = S3Provider(name: "tls", client: try server.client(http: trusting), bucket: bucket)
            try await provider.put("blob", bytes: [1, 2, 3])
            #expect(try await provider.get("blob", range: nil).bytes == [1, 2, 3])
        } catch {
            try await trusting.shutdown()
            throw error
        }
        try await trusting.shutdown()
        let untrusting = S3Provider(name: "untrusting", client: try server.client(), bucket: bucket)
        await #expect { _ = try await untrusting.head("blob") } throws: { ($0 as? ProviderError)?.kind == .unavailable }
    }
}
