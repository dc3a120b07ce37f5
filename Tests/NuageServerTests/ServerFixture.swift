import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NuageCatalog
import NuageConfig
import NuageCore
import NuageEngine
@testable import NuageServer
import NuageSigV4
import NuageTestSupport

/// An S3 server over the embedded default (demo providers, SQLite catalog; a new PostgreSQL
/// database instead with `NUAGE_TEST_CATALOG=postgres`, see ``TestCatalog``) in a temporary
/// directory, driven in process through HummingbirdTesting's router client, with requests
/// signed as an SDK signs them.
struct ServerFixture {
    let root: String
    let engine: Engine
    let signer: SigV4Signer

    init() async throws {
        root = NSTemporaryDirectory() + "nuage-server-\(UUID().uuidString)"
        let directory = DataDirectory(path: root)
        try directory.initialize(configuration: try await TestCatalog.configuration(Configuration.demo))
        engine = try await directory.openEngine(environment: [:])
        signer = try await Self.createKey(engine, readOnly: false, buckets: [])
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: root) }

    /// A new access key's signer.
    static func createKey(_ engine: Engine, readOnly: Bool, buckets: [String]) async throws -> SigV4Signer {
        let (key, secret) = try await AccessKeys.create(engine: engine, name: "test", readOnly: readOnly, buckets: buckets)
        return SigV4Signer(accessKey: key.id, secretKey: secret)
    }

    /// Runs `body` with a client of a server over this fixture's engine.
    func run(options: S3Server.Options = .init(), _ body: @Sendable (Client) async throws -> Void) async throws {
        let app = try S3Server(engine: engine, options: options).application(host: "127.0.0.1", port: 0)
        let signer = self.signer
        try await app.test(.router) { client in try await body(Client(client: client, signer: signer)) }
    }

    struct Client: Sendable {
        let client: any TestClientProtocol
        let signer: SigV4Signer

        /// Sends a request signed by `signer` (nil: anonymous) with the payload's SHA-256.
        @discardableResult
        func send(_ method: HTTPRequest.Method, _ path: String, query: [(name: String, value: String)] = [],
                  headers: [(name: String, value: String)] = [], body: [UInt8] = [], signer: SigV4Signer? = nil,
                  anonymous: Bool = false, payloadHash: String? = nil, date: Date = Date()) async throws -> TestResponse {
            var fields = HTTPFields()
            for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
            if !anonymous {
                let signing = signer ?? self.signer
                let hash = payloadHash ?? Array(SHA256.hash(data: body)).hex
                for (name, value) in signing.sign(method: method.rawValue, path: path, query: query,
                                                  headers: [("host", "localhost")] + headers, payloadHash: hash, date: date) {
                    fields.append(HTTPField(name: HTTPField.Name(name)!, value: value))
                }
            }
            if !body.isEmpty || method == .put || method == .post { fields[.contentLength] = String(body.count) }
            return try await client.execute(uri: SigV4Signer.target(path: path, query: query), method: method, headers: fields,
                                            body: body.isEmpty ? nil : ByteBuffer(bytes: body))
        }
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var bytes: [UInt8] { Array(buffer: body) }
    /// The `<Code>` of an S3 error body.
    var errorCode: String? {
        guard let start = text.range(of: "<Code>"), let end = text.range(of: "</Code>") else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }
    subscript(header name: String) -> String? { headers[HTTPField.Name(name)!] }
    /// Every `<name>` element's text, in order.
    func values(_ name: String) -> [String] {
        text.components(separatedBy: "<\(name)>").dropFirst().map { String($0.prefix { $0 != "<" }) }
    }
}

/// Runs `body` against a server over a fresh fixture, then removes it.
func withServer(options: S3Server.Options = .init(), _ body: @Sendable (ServerFixture.Client) async throws -> Void) async throws {
    let fixture = try await ServerFixture()
    defer { fixture.cleanUp() }
    try await fixture.run(options: options, body)
}

func randomBytes(_ count: Int) -> [UInt8] { [UInt8].random(count: count) }
