import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import Synchronization

/// What is known of a request once its response has been written (or cut): the line the
/// gateway logs for it at info, and what metrics count. Never a secret, a signature, an object
/// key or content: the access key's id, the operation, the bucket, sizes and times.
public struct RequestOutcome: Sendable {
    public var requestID: String
    public var accessKey: String?
    /// S3's name of the operation (`PutObject`), `Unknown` before routing, `Admin`, `Health`.
    public var operation: String
    public var bucket: String?
    public var status: Int
    /// The request body's declared length (the decoded length of an aws-chunked body).
    public var bytesIn: Int64
    /// Response body bytes written.
    public var bytesOut: Int64
    public var duration: Duration
    /// Why writing the response body stopped early, if it did.
    public var cut: String?

    var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["request": "\(requestID)", "operation": "\(operation)", "status": "\(status)",
                                         "in": "\(bytesIn)", "out": "\(bytesOut)",
                                         "ms": "\(Self.milliseconds(duration))"]
        if let accessKey { metadata["key"] = "\(accessKey)" }
        if let bucket { metadata["bucket"] = "\(bucket)" }
        if let cut { metadata["cut"] = "\(cut)" }
        return metadata
    }

    /// `12.3`: milliseconds with one decimal, without `String(format:)`.
    static func milliseconds(_ duration: Duration) -> String {
        let tenths = duration.inNanoseconds / 100_000
        return "\(tenths / 10).\(tenths % 10)"
    }
}

/// Counts the bytes of a response body as they are written.
struct CountingWriter: ResponseBodyWriter {
    var inner: any ResponseBodyWriter
    let count: Atomic<Int64>.Box

    mutating func write(_ buffer: ByteBuffer) async throws {
        count.value.add(Int64(buffer.readableBytes), ordering: .relaxed)
        try await inner.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await inner.finish(trailingHeaders)
    }
}

extension Atomic where Value == Int64 {
    /// An atomic counter that a `Sendable` closure can share.
    final class Box: Sendable {
        let value = Atomic<Int64>(0)
    }
}

extension Response {
    /// The response, calling `done` with the bytes written once its body is written or cut.
    func observed(_ done: @escaping @Sendable (_ bytesOut: Int64, _ cut: (any Error)?) -> Void) -> Response {
        var response = self
        let body = self.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            let count = Atomic<Int64>.Box()
            do {
                try await body.write(CountingWriter(inner: writer, count: count))
                done(count.value.load(ordering: .relaxed), nil)
            } catch {
                done(count.value.load(ordering: .relaxed), error)
                throw error
            }
        }
        return response
    }
}
