import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
@testable import NuageServer
import Testing

/// The minimum body rate, on an embedded channel whose clock the test moves.
@Suite struct RequestBodyRateTests {
    let limits = RequestBodyRateHandler.Limits(minimumRate: 1000, grace: .seconds(20))

    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: RequestBodyRateHandler(limits: limits, logger: Logger(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func head(_ channel: EmbeddedChannel) throws {
        try channel.writeInbound(HTTPRequestPart.head(HTTPRequest(method: .put, scheme: "http", authority: "h", path: "/b/k",
                                                                 headerFields: [.contentLength: "100000"])))
    }

    func body(_ channel: EmbeddedChannel, _ count: Int) throws {
        try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(repeating: 7, count: count)))
    }

    /// What the handler answered, once it cut the request.
    func answer(_ channel: EmbeddedChannel) throws -> HTTPResponse? {
        guard case .head(let head) = try channel.readOutbound(as: HTTPResponsePart.self) else { return nil }
        return head
    }

    @Test func aTricklingBodyIsCutWithRequestTimeout() throws {
        let channel = try channel()
        try head(channel)
        // One byte every 10 s while the server waits: the 20 s of grace (plus 1 ms earned per
        // byte) run out during the second wait.
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        try body(channel, 1)
        #expect(channel.isActive)
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2))
        #expect(try answer(channel)?.status == .badRequest)
        guard case .body(let xml) = try channel.readOutbound(as: HTTPResponsePart.self) else { Issue.record("no body"); return }
        #expect(String(buffer: xml).contains("<Code>RequestTimeout</Code>"))
        #expect(!channel.isActive, "the connection is closed")
    }

    @Test func aBodyAtTheMinimumRateIsNeverCut() throws {
        let channel = try channel()
        try head(channel)
        for _ in 0..<100 {  // 1000 bytes each second for 100 s: far past the grace
            channel.read()
            channel.embeddedEventLoop.advanceTime(by: .seconds(1))
            try body(channel, 1000)
        }
        try channel.writeInbound(HTTPRequestPart.end(nil))
        #expect(channel.isActive)
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
        // Between requests the clock does not run: the idle timeout handles idle connections.
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(600))
        #expect(channel.isActive)
    }

    @Test func timeTheServerSpendsWithoutReadingIsNotCounted() throws {
        let channel = try channel()
        try head(channel)
        try body(channel, 10)
        // The server applies back-pressure (no read) for a minute: providers are slow, not the client.
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(19))
        try body(channel, 10)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        #expect(channel.isActive)
    }

    @Test func aResponseAlreadyStartedIsNotAnsweredTwice() throws {
        let channel = try channel()
        try head(channel)
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .forbidden)))
        _ = try channel.readOutbound(as: HTTPResponsePart.self)
        channel.read()
        channel.embeddedEventLoop.advanceTime(by: .seconds(21))
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil)
        #expect(!channel.isActive)
    }
}
