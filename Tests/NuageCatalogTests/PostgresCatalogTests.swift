import Foundation
import Logging
import NuageCatalog
import NuageCatalogPostgres
import NuageCore
import NuageTestSupport
import PostgresNIO
import Testing

/// The PostgreSQL catalog passes the conformance suite SQLite passes, each check in a database of
/// its own, on the throwaway server `./scripts/test` starts (`NUAGE_TEST_POSTGRES_URL`).
@Suite struct PostgresCatalogTests {
    /// The test server's location; a test without one fails, saying how to get one.
    static func server() throws -> PostgresLocation {
        do { return try TestCatalog.server() } catch {
            Issue.record("\(error)")
            throw error
        }
    }

    /// A new, empty database on the test server, as a catalog.
    static func freshCatalog() async throws -> PostgresCatalog {
        _ = try server()
        return try await TestCatalog.freshPostgres()
    }

    /// Whether the session of `location`'s client is encrypted, as the server sees it.
    static func encrypted(_ location: PostgresLocation) async throws -> Bool {
        let client = PostgresClient(configuration: location.configuration(password: nil))
        return try await withThrowingTaskGroup { group in
            group.addTask { await client.run(); return false }
            defer { group.cancelAll() }
            let rows = try await client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            for try await ssl in rows.decode(Bool.self) { return ssl }
            return false
        }
    }

    @Test(arguments: CatalogConformance.names)
    func conformance(_ check: String) async throws {
        try await CatalogConformance.run(check, on: try await Self.freshCatalog())
    }

    @Test func urlsAndPasswordFiles() throws {
        let location = try PostgresLocation(url: "postgres://gw@db.example:6543/nuage?sslmode=require")
        #expect(location.user == "gw" && location.host == "db.example" && location.port == 6543 && location.database == "nuage" && location.tls == .require)
        #expect(try PostgresLocation(url: "postgres://gw@localhost/nuage?host=/run/pg").socketDirectory == "/run/pg")
        for bad in ["postgres://gw:secret@h/db", "http://gw@h/db", "postgres://h/db", "postgres://gw@h/", "postgres://gw@h/db?sslmode=maybe"] {
            #expect(throws: NuageError.self, "\(bad)") { try PostgresLocation(url: bad) }
        }
        let file = NSTemporaryDirectory() + "pgpass-\(UUID().uuidString)"
        try "# comment\nother:5432:nuage:gw:no\ndb.example:*:nuage:gw:pa\\:ss\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try location.password(inPassFile: file) == "pa:ss")
        var other = location
        other.user = "someone"
        #expect(try other.password(inPassFile: file) == nil)
        let rooted = try PostgresLocation(url: "postgres://gw@db.example/nuage?sslmode=verify-full&sslrootcert=\(file)")
        #expect(rooted.tls == .verifyFull && rooted.rootCertificates == file)
        #expect(try PostgresLocation(url: "postgres://gw@db.example/nuage?sslmode=verify-ca").tls == .verifyCA)
        for bad in ["postgres://gw@h/db?sslrootcert=/nonexistent/ca.pem", "postgres://gw@h/db?sslmode=disable&sslrootcert=\(file)",
                    "postgres://gw@h/db?sslrootcert="] {
            #expect(throws: NuageError.self, "\(bad)") { try PostgresLocation(url: bad) }
        }
    }

    /// The test server speaks TLS with a certificate from a throwaway CA (`scripts/postgres`):
    /// the catalog's connections are encrypted when the URL asks, the certificate is checked
    /// against `sslrootcert` and the host, and a server nobody vouches for is refused.
    /// `location.check` fails, and says `reason` somewhere in its message.
    static func expectRefused(_ location: PostgresLocation, because reason: String) async {
        do {
            try await location.check(password: nil, logger: Logger(label: "test"))
            Issue.record("\(location) with sslmode=\(location.tls.rawValue) was accepted")
        } catch {
            #expect("\(error)".lowercased().contains(reason), "\(error)")
        }
    }

    @Test func tlsIsUsedAndTheServerIsChecked() async throws {
        let server = try Self.server()
        try #require(server.rootCertificates != nil, "scripts/postgres names its CA as sslrootcert")
        for mode in [PostgresLocation.TLSMode.verifyFull, .verifyCA, .require, .prefer] {
            var location = server
            location.tls = mode
            #expect(try await Self.encrypted(location), "sslmode=\(mode.rawValue)")
        }
        var plain = server
        plain.tls = .disable
        plain.rootCertificates = nil
        #expect(try await Self.encrypted(plain) == false)
        // Without the CA, the server's certificate is nobody's: no connection, not an unchecked one,
        // refused at once with the reason.
        var unvouched = server
        unvouched.rootCertificates = nil
        await Self.expectRefused(unvouched, because: "certificate")
        // The server also listens on 127.0.0.2, which its certificate does not name: verify-full
        // refuses it, verify-ca (the chain only) accepts it.
        var elsewhere = server
        elsewhere.host = "127.0.0.2"
        await Self.expectRefused(elsewhere, because: "certificate")
        elsewhere.tls = .verifyCA
        try await elsewhere.check(password: nil, logger: Logger(label: "test"))
        #expect(try await Self.encrypted(elsewhere) == true, "verify-ca checks the chain, not the name")
    }
}
