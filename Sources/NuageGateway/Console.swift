import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import NuageEngine

/// The read-only web console at `/console` on the metrics address: a sign-in with an access
/// key (or HTTP Basic credentials), the page, and its JSON API (`/console/api/state`, see
/// ``ConsoleState``). Nothing it serves comes from elsewhere. The catalog figures it shows are
/// at most 10 seconds old while someone watches (a minute otherwise).
struct Console: Sendable {
    let engine: Engine
    let auth: ConsoleAuth
    let figures: ConsoleFigures
    let data: String
    let logger: Logger

    func add(to router: Router<BasicRequestContext>) {
        let console = self
        router.get("/console") { request, _ -> Response in
            guard await console.caller(request) != nil else { return Self.redirect("/console/sign-in") }
            return Self.html(ConsolePage.console)
        }
        router.get("/console/sign-in") { _, _ -> Response in
            Self.html(ConsolePage.signIn.replacingOccurrences(of: "{{error}}", with: ""))
        }
        router.post("/console/sign-in") { request, _ -> Response in
            var request = request
            let body = (try? await request.collectBody(upTo: 4096)).map { String(buffer: $0) } ?? ""
            let form = Self.form(body)
            guard let key = await console.auth.verify(id: form["id"] ?? "", secret: form["secret"] ?? "") else {
                console.logger.notice("console sign-in refused")
                var response = Self.html(ConsolePage.signIn.replacingOccurrences(
                    of: "{{error}}", with: "<p class=\"error\" id=\"error\">That access key id and secret do not match.</p>"))
                response.status = .unauthorized
                return response
            }
            let token = console.auth.startSession(key: key)
            console.logger.info("console sign-in", metadata: ["key": "\(key)"])
            var response = Self.redirect("/console")
            response.headers[.setCookie] = "\(ConsoleAuth.cookie)=\(token); Path=/console; HttpOnly; SameSite=Strict; Max-Age=\(12 * 3600)"
            return response
        }
        router.post("/console/sign-out") { request, _ -> Response in
            if let token = ConsoleAuth.cookieValue(request.headers[.cookie]) { console.auth.endSession(token) }
            var response = Self.redirect("/console/sign-in")
            response.headers[.setCookie] = "\(ConsoleAuth.cookie)=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"
            return response
        }
        router.get("/console/api/state") { request, _ -> Response in
            guard await console.caller(request) != nil else {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"Nuage console\"", .contentLength: "0"])
            }
            do { try await console.figures.refresh(console.engine, ifOlderThan: 10) } catch {
                console.logger.warning("reading the catalog's figures for the console failed (older ones are shown)", metadata: ["error": "\(error)"])
            }
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = .sortedKeys
            let body = (try? encoder.encode(console.figures.state(console.engine, data: console.data))) ?? Data("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
    }

    func caller(_ request: Request) async -> String? {
        await auth.caller(authorization: request.headers[.authorization], cookie: request.headers[.cookie])
    }

    static func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                        HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:",
                                        HTTPField.Name("X-Frame-Options")!: "DENY"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .contentLength: "0"])
    }

    /// `application/x-www-form-urlencoded` fields.
    static func form(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = parts.first.map({ String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }) else { continue }
            let value = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" : ""
            fields[name] = value
        }
        return fields
    }
}
