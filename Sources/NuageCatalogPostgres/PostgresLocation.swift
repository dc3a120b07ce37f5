import Foundation
import NIOSSL
import NuageCore
import PostgresNIO

/// Where the PostgreSQL catalog is: `postgres://USER@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`,
/// or a unix socket directory with `?host=/path/to/dir`. The password never appears in the URL
/// (so never in `nuage.toml` or a log): it comes from an environment variable or a `.pgpass` file.
public struct PostgresLocation: Hashable, Sendable {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var user: String
    public var host: String
    public var port: Int
    /// A directory holding the server's unix socket (`.s.PGSQL.PORT`), used instead of TCP.
    public var socketDirectory: String?
    public var database: String
    public var tls: TLSMode

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
        var tls = TLSMode.prefer, socket: String?
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else { throw bad("sslmode is disable, prefer or require") }
                tls = mode
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
    }

    /// The client configuration, with `password` (nil: none, trust or peer authentication).
    public func configuration(password: String?) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
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
