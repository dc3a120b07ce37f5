import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the request head arrives.
///
/// S3 clients (boto3, the aws command line) send it with every upload and wait for it before
/// sending the body. Without an answer they wait about a second; worse, an error answered
/// before the body (a failed condition) leaves a body the client never sends, and the
/// connection's framing is lost. After `100 Continue` the body always follows, and the server
/// reads (or drains) it as usual.
final class ExpectContinueHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // The header stays: a client may have signed it.
        if case .head(let head) = unwrapInboundIn(data), head.headerFields[.expect]?.lowercased() == "100-continue" {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
