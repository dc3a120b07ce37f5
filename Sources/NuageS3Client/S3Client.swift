import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import NuageCore
import NuageSigV4

/// A minimal S3 client: requests signed with SigV4, bodies streamed both ways. It speaks to
/// any S3 endpoint (Nuage itself, `rclone serve s3`, moto, Amazon S3 and its peers).
public struct S3Client: Sendable {
    /// Where the bucket goes: in the path (`host/bucket/key`) or in the host (`bucket.host/key`).
    public enum Addressing: String, Sendable {
        case path, virtual
    }

    /// `http(s)://host[:port]`, without a path.
    public let endpoint: String
    public let addressing: Addressing
    public let signer: SigV4Signer
    public let http: HTTPClient
    public var timeout: TimeAmount
    private let scheme: String
    private let host: String

    /// - Throws: `NuageError.invalidArgument` for an endpoint that is not `http(s)://host[:port]`.
    public init(endpoint: String, signer: SigV4Signer, addressing: Addressing = .path, http: HTTPClient = S3Client.sharedHTTP,
                timeout: TimeAmount = .seconds(300)) throws {
        let trimmed = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        guard let url = URL(string: trimmed), let scheme = url.scheme, ["http", "https"].contains(scheme), let host = url.host,
              url.path.isEmpty, url.query == nil, url.user == nil else {
            throw NuageError(.invalidArgument, "endpoint must be http(s)://HOST[:PORT], not \(endpoint)")
        }
        self.endpoint = trimmed
        self.addressing = addressing
        self.signer = signer
        self.http = http
        self.timeout = timeout
        self.scheme = scheme
        self.host = url.port.map { "\(host):\($0)" } ?? host
    }

    /// The HTTP client S3 clients share unless given their own: connections fail fast (callers
    /// decide about retries) and up to 64 connections per host are pooled.
    public static let sharedHTTP: HTTPClient = makeHTTPClient()

    /// An HTTP client for S3 endpoints; `caFile` (PEM) replaces the system's trust roots.
    public static func makeHTTPClient(caFile: String? = nil, connectTimeout: TimeAmount = .seconds(5)) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: connectTimeout, read: .seconds(120))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        configuration.decompression = .disabled
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            configuration.tlsConfiguration = tls
        }
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Sends one signed request. The body is sent unsigned (`UNSIGNED-PAYLOAD`) unless
    /// `payloadHash` is given. Errors with a status of 300 or more are thrown as
    /// ``S3ClientError`` (the body is read for S3's error code).
    public func send(_ method: HTTPMethod, bucket: String? = nil, key: String? = nil,
                     query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [],
                     body: HTTPClientRequest.Body? = nil, payloadHash: String? = nil) async throws -> HTTPClientResponse {
        let virtual = addressing == .virtual && bucket != nil
        let path = virtual ? "/" + (key ?? "") : "/" + (bucket.map { $0 + (key.map { "/" + $0 } ?? "") } ?? "")
        let requestHost = virtual ? "\(bucket!).\(host)" : host
        let hash = payloadHash ?? (body == nil ? SigV4.emptyPayloadHash : "UNSIGNED-PAYLOAD")
        var request = HTTPClientRequest(url: "\(scheme)://\(requestHost)" + SigV4Signer.target(path: path, query: query))
        request.method = method
        let all = [("host", requestHost)] + headers
        for (name, value) in all + signer.sign(method: method.rawValue, path: path, query: query, headers: all, payloadHash: hash) {
            request.headers.add(name: name, value: value)
        }
        if let body { request.body = body }
        let response = try await http.execute(request, timeout: timeout)
        guard response.status.code < 300 else {
            let text = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
            throw S3ClientError(status: Int(response.status.code), body: text, request: "\(method.rawValue) \(path)")
        }
        return response
    }

    /// Creates a bucket; one that exists and is ours is fine.
    public func createBucket(_ bucket: String) async throws {
        do {
            _ = try await send(.PUT, bucket: bucket, body: .bytes(ByteBuffer()))
        } catch let error as S3ClientError where error.code == "BucketAlreadyOwnedByYou" || error.code == "BucketAlreadyExists" {
            return
        }
    }

    /// Uploads `body` (whose length it declares); returns the ETag without quotes.
    @discardableResult
    public func put(bucket: String, key: String, body: HTTPClientRequest.Body,
                    headers: [(name: String, value: String)] = []) async throws -> String {
        let response = try await send(.PUT, bucket: bucket, key: key, headers: headers, body: body)
        return response.headers.first(name: "etag").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } ?? ""
    }

    /// Starts a download (of `range` when given); the caller reads `response.body`.
    public func get(bucket: String, key: String, range: Range<Int64>? = nil) async throws -> HTTPClientResponse {
        let headers = range.map { [("range", "bytes=\($0.lowerBound)-\($0.upperBound - 1)")] } ?? []
        return try await send(.GET, bucket: bucket, key: key, headers: headers)
    }

    /// Object size, or nil when the key does not exist.
    public func head(bucket: String, key: String) async throws -> Int64? {
        do {
            let response = try await send(.HEAD, bucket: bucket, key: key)
            return response.headers.first(name: "content-length").flatMap { Int64($0) }
        } catch let error as S3ClientError where error.status == 404 {
            return nil
        }
    }

    /// The server's clock, from the `Date` header of a HEAD of the bucket (nil without one).
    public func serverTime(bucket: String) async throws -> Date? {
        let response = try await send(.HEAD, bucket: bucket)
        guard let text = response.headers.first(name: "date") else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    public func delete(bucket: String, key: String) async throws {
        _ = try await send(.DELETE, bucket: bucket, key: key)
    }
}

/// An S3 error answer: the HTTP status and, when the body is S3's XML, its code and message.
public struct S3ClientError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let code: String?
    public let message: String?
    public let request: String

    public init(status: Int, body: String, request: String) {
        self.status = status
        self.request = request
        func element(_ name: String) -> String? {
            guard let start = body.range(of: "<\(name)>"), let end = body.range(of: "</\(name)>", range: start.upperBound..<body.endIndex) else { return nil }
            return String(body[start.upperBound..<end.lowerBound])
        }
        code = element("Code")
        message = element("Message")
    }

    public var description: String {
        "\(request): HTTP \(status)" + (code.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? "")
    }
}
