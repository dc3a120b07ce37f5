import Foundation
import Logging
import NIOSSL
import NuageCore
import PostgresNIO

/// Where the PostgreSQL catalog is: `postgres://USER@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=…]`,
/// or a unix socket directory with `?host=/path/to/dir`. The password never appears in the URL
/// (so never in `nuage.toml` or a log): it comes from an environment variable or a `.pgpass` file.
///
/// TLS: `sslmode=disable` (plain), `prefer` (TLS when the server offers it), `require` and
/// `verify-full` (TLS or no connection), `verify-ca`. Stricter than libpq: whenever TLS is used
/// the server's certificate is checked against the system's trust roots, or against the CA
/// certificates in the PEM file `sslrootcert` names, and its host name (or IP address) against
/// the URL's host, except under `verify-ca`, which checks the chain only. An encrypted
/// connection to a server nobody vouches for is not offered.
public struct PostgresLocation: Hashable, Sendable {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var user: String
    public var host: String
    public var port: Int
    /// A directory holding the server's unix socket (`.s.PGSQL.PORT`), used instead of TCP.
    public var socketDirectory: String?
    public var database: String
    public var tls: TLSMode
    /// A PEM file of the CA certificates that vouch for the server (nil: the system's trust roots).
    public var rootCertificates: String?

    /// - Throws: `configuration` for a URL that is not one, or that carries a password.
    public init(url text: String) throws {
        func bad(_ why: String) -> NuageError {
            NuageError(.configuration, "[catalog] url must be postgres://USER@HOST[:PORT]/DATABASE[?sslmode=…]: \(why)")
        }
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else { throw bad("not a postgres:// URL") }
        guard url.password == nil else { throw bad("put the password in the environment variable that password-env names, not in the URL") }
        guard let user = url.user, !user.isEmpty else { throw bad("no user") }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw bad("no database") }
        var tls = TLSMode.prefer, socket: String?, roots: String?
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw bad("sslmode is disable, prefer, require, verify-ca or verify-full")
                }
                tls = mode
            case "sslrootcert":
                guard let path = item.value, !path.isEmpty else { throw bad("sslrootcert names a PEM file of CA certificates") }
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw NuageError(.configuration, "[catalog] url: cannot read sslrootcert \(path)")
                }
                roots = path
            case "host": socket = item.value
            default: throw bad("unknown parameter \(item.name)")
            }
        }
        self.user = user
        self.host = url.host ?? "localhost"
        self.port = url.port ?? 5432
        self.socketDirectory = socket
        self.database = database
        self.tls = tls
        self.rootCertificates = roots
        if roots != nil && tls == .disable { throw bad("sslrootcert with sslmode=disable: say which one is meant") }
    }

    /// Connects once and disconnects, so that a server that cannot be reached, refuses the
    /// user, or presents a certificate nobody vouches for is reported at once with its reason:
    /// the connection pool would retry for a minute and then say only that it gave up.
    /// - Throws: `configuration`, naming the server and the cause.
    public func check(password: String?, logger: Logger) async throws {
        do {
            var configuration: PostgresConnection.Configuration
            if let socketDirectory {
                configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
            } else {
                let tls: PostgresConnection.Configuration.TLS = switch self.tls {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: clientTLS()))
                case .require, .verifyCA, .verifyFull: .require(try NIOSSLContext(configuration: clientTLS()))
                }
                configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
            }
            configuration.options.connectTimeout = .seconds(10)
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try await connection.close()
        } catch let error as PSQLError {
            // PSQLError describes itself as nothing, to keep queries out of logs; what went wrong
            // at connection time (the server's message, the TLS or socket error) holds no secret.
            let reason = error.serverInfo?[.message] ?? error.underlying.map { "\(error.code): \($0)" } ?? "\(error.code)"
            throw NuageError(.configuration, "cannot connect to the PostgreSQL catalog \(self): \(reason)")
        } catch {
            throw NuageError(.configuration, "cannot connect to the PostgreSQL catalog \(self)", cause: error)
        }
    }

    /// TLS settings for a client: the trust roots and what is checked (see the type's comment).
    func clientTLS() -> TLSConfiguration {
        var client = TLSConfiguration.makeClientConfiguration()
        if let rootCertificates { client.trustRoots = .file(rootCertificates) }
        if tls == .verifyCA { client.certificateVerification = .noHostnameVerification }
        return client
    }

    /// The client configuration, with `password` (nil: none, trust or peer authentication).
    public func configuration(password: String?) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            let client = clientTLS()
            let tls: PostgresClient.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(client)
            case .require, .verifyCA, .verifyFull: .require(client)
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.maximumConnections = 16
        return configuration
    }

    /// The password for this location in a `.pgpass`-style file (`host:port:database:user:password`,
    /// `*` matching anything, `\:` and `\\` escaped), or nil.
    public func password(inPassFile path: String) throws -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw NuageError(.configuration, "cannot read the password file \(path)")
        }
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            var fields: [String] = [], field = "", escaped = false
            for character in line {
                if escaped { field.append(character); escaped = false } else if character == "\\" { escaped = true } else if character == ":" && fields.count < 4 {
                    fields.append(field)
                    field = ""
                } else { field.append(character) }
            }
            fields.append(field)
            guard fields.count == 5 else { continue }
            let wanted = [socketDirectory ?? host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }
}

extension PostgresLocation: CustomStringConvertible {
    /// `user@host:port/database` (or the socket directory), for messages: no password, no query.
    public var description: String { "\(user)@\(socketDirectory ?? host):\(port)/\(database)" }
}
