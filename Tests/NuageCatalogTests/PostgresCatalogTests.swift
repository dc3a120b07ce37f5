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
        guard let url = ProcessInfo.processInfo.environment["NUAGE_TEST_POSTGRES_URL"] else {
            Issue.record("NUAGE_TEST_POSTGRES_URL is not set: ./scripts/test starts a PostgreSQL server for these tests (scripts/postgres)")
            throw NuageError(.configuration, "no PostgreSQL server for the tests")
        }
        return try PostgresLocation(url: url)
    }

    /// A new, empty database on the test server, as a catalog.
    static func freshCatalog() async throws -> PostgresCatalog {
        let server = try server()
        let name = "nuage_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let admin = PostgresClient(configuration: server.configuration(password: nil))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await admin.run() }
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            group.cancelAll()
        }
        var location = server
        location.database = name
        return try await PostgresCatalog(configuration: location.configuration(password: nil))
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
    }
}
