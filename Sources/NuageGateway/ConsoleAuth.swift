import Crypto
import Foundation
import Logging
import NuageCore
import NuageCrypto
import NuageEngine
import Synchronization

/// Who may see the console: a holder of an access key, signed in with its id and secret (a
/// session cookie, 12 hours) or sending them as HTTP Basic credentials (scripts, tests). The
/// secret is compared in constant time; sessions live in this gateway's memory only.
final class ConsoleAuth: Sendable {
    static let cookie = "nuage-console"
    static let lifetime: Duration = .seconds(12 * 3600)
    private let engine: Engine
    private let logger: Logger
    private let now: @Sendable () -> ContinuousClock.Instant
    private let sessions = Mutex<[String: (key: String, expires: ContinuousClock.Instant)]>([:])

    init(engine: Engine, logger: Logger, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.engine = engine
        self.logger = logger
        self.now = now
    }

    /// The access key id, when `id` and `secret` are an access key's.
    func verify(id: String, secret: String) async -> String? {
        guard !id.isEmpty, id.utf8.count <= 128 else { return nil }
        do {
            guard let record = try await engine.catalog.accessKey(id: id) else { return nil }
            let stored = try engine.openSecret(record.sealedSecret, accessKey: record.id)
            return ConstantTime.equal(Array(stored.utf8), Array(secret.utf8)) ? record.id : nil
        } catch {
            logger.error("console sign-in could not check an access key (refused)", metadata: ["key": "\(id)", "error": "\(error)"])
            return nil
        }
    }

    /// A new session for `key`: the cookie's value.
    func startSession(key: String) -> String {
        let token = [UInt8].random(count: 32).hex
        let expires = now() + Self.lifetime
        sessions.withLock { sessions in
            let now = self.now()
            sessions = sessions.filter { $0.value.expires > now }
            sessions[token] = (key, expires)
        }
        return token
    }

    func endSession(_ token: String) { _ = sessions.withLock { $0.removeValue(forKey: token) } }

    /// The access key id of a request's session cookie or Basic credentials, if valid.
    func caller(authorization: String?, cookie: String?) async -> String? {
        if let token = Self.cookieValue(cookie) {
            let now = self.now()
            if let session = sessions.withLock({ $0[token] }), session.expires > now { return session.key }
        }
        guard let authorization, authorization.lowercased().hasPrefix("basic "),
              let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return await verify(id: String(text[..<colon]), secret: String(text[text.index(after: colon)...]))
    }

    static func cookieValue(_ header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(cookie + "=") { return String(pair.dropFirst(cookie.count + 1)) }
        }
        return nil
    }
}
