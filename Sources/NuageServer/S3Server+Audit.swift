import Foundation
import Hummingbird
import NIOCore

extension S3Server {
    /// One request as the audit log keeps it.
    public struct AccessRecord: Sendable, Hashable {
        /// `s3:PutObject`, `admin:exposure`, or `s3:Unknown` when the request could not be routed.
        public var action: String
        /// The access key the request was signed with (nil when it was not authenticated).
        public var accessKey: String?
        public var address: String?
        public var bucket: String?
        public var key: String?
        /// `ok`, or the HTTP status and S3 error code.
        public var outcome: String
    }

    /// Whether a request is recorded: every change of state and every refused request; reads
    /// only with `auditReads`.
    func audited(_ method: HTTPRequest.Method, status: Int) -> Bool {
        options.auditReads || !(method == .get || method == .head || method == .options) || status == 401 || status == 403
    }
}

/// The request context of the S3 server: Hummingbird's, plus the client's address.
public struct S3RequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
