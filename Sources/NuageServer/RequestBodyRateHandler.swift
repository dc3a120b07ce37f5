import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Cuts a request whose body arrives too slowly, so that a client trickling bytes cannot hold a
/// slot (and the memory behind it) for minutes: `400 RequestTimeout`, then the connection closes.
///
/// The clock runs only while the gateway is waiting for the client: between a `read` the server
/// asks for and the bytes that answer it. Time the gateway spends on its own (writing to slow
/// providers, applying back-pressure) never counts against the client. The client starts a body
/// with `grace` of credit; waiting spends it, and every byte received earns `1 / minimumRate`
/// seconds back, up to `grace`. A body that averages `minimumRate` while awaited never runs out;
/// one byte every 20 seconds runs out after `grace`.
public final class RequestBodyRateHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPRequestPart
    public typealias InboundOut = HTTPRequestPart
    public typealias OutboundIn = HTTPResponsePart
    public typealias OutboundOut = HTTPResponsePart

    public struct Limits: Sendable {
        /// Bytes per second a body must average while it is awaited.
        public var minimumRate: Int
        /// The most credit a body has: how long the gateway waits for its next bytes at most.
        public var grace: TimeAmount
        public init(minimumRate: Int = 1024, grace: TimeAmount = .seconds(20)) {
            self.minimumRate = minimumRate
            self.grace = grace
        }
    }

    /// Requests cut for a slow body since the process started (for operators and tests).
    public static let cut = Atomic<Int>(0)

    private let limits: Limits
    private let logger: Logger
    private var inBody = false
    private var responded = false
    private var credit: TimeAmount
    private var waitingSince: NIODeadline?
    private var timer: Scheduled<Void>?

    public init(limits: Limits, logger: Logger) {
        self.limits = limits
        self.logger = logger
        credit = limits.grace
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            inBody = true
            responded = false
            credit = limits.grace
        case .body(let buffer):
            stopWaiting(context)
            let earned = TimeAmount.nanoseconds(Int64(buffer.readableBytes) * 1_000_000_000 / Int64(limits.minimumRate))
            credit = min(limits.grace, credit + earned)
        case .end:
            inBody = false
            stopWaiting(context)
        }
        context.fireChannelRead(data)
    }

    public func read(context: ChannelHandlerContext) {
        if inBody && waitingSince == nil {
            waitingSince = context.eventLoop.now
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: credit) {
                let (handler, context) = bound.value
                handler.timedOut(context)
            }
        }
        context.read()
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(let head) = unwrapOutboundIn(data), head.status.code >= 200 { responded = true }
        context.write(data, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }
    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        context.fireChannelInactive()
    }

    private func stopWaiting(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        guard let since = waitingSince else { return }
        waitingSince = nil
        credit = credit - (context.eventLoop.now - since)
    }

    private func timedOut(_ context: ChannelHandlerContext) {
        guard inBody, waitingSince != nil else { return }
        inBody = false
        timer = nil
        Self.cut.wrappingAdd(1, ordering: .relaxed)
        logger.notice("request body too slow: cut after waiting \(limits.grace) for bytes (minimum \(limits.minimumRate) B/s)",
                      metadata: ["remote": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
        if !responded {
            let body = S3Error(.requestTimeout).xml(requestID: "")
            let head = HTTPResponse(status: .badRequest, headerFields: [.contentType: "application/xml", .connection: "close",
                                                                       .contentLength: "\(body.utf8.count)"])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }
}
