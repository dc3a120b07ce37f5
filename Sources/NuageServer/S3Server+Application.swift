import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore

extension S3Server {
    /// TLS files for HTTPS.
    public struct TLSFiles: Sendable {
        public var certificate: String
        public var privateKey: String
        public init(certificate: String, privateKey: String) {
            self.certificate = certificate
            self.privateKey = privateKey
        }
    }

    /// The HTTP application serving this S3 API: the one function `nuage serve` and the tests use.
    ///
    /// - Parameters:
    ///   - host, port: where to listen (port 0 picks a free one).
    ///   - tls: certificate and key for HTTPS; plain HTTP when nil.
    ///   - onRunning: called with the bound port once the server listens.
    public func application(host: String, port: Int, tls: TLSFiles? = nil,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let server = self, bodyRate = options.bodyRate, logger = logger, secure = tls != nil
        let responder = CallbackResponder<S3RequestContext> { request, context in
            await server.respond(to: request, from: context.remoteAddress?.ipAddress, secure: secure)
        }
        let http = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ExpectContinueHandler(), RequestBodyRateHandler(limits: bodyRate, logger: logger)],
            idleTimeout: .seconds(120),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 << 10, maxHeaderListSize: 64 << 10, maxHeaderFieldCount: 200))
        var builder: HTTPServerBuilder = .http1(configuration: http)
        if let tls {
            let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate)
            let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
            let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                           privateKey: .privateKey(key))
            builder = try .tls(builder, tlsConfiguration: configuration)
        }
        return Application(responder: responder, server: builder,
                           configuration: .init(address: .hostname(host, port: port), serverName: "Nuage"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }
}
