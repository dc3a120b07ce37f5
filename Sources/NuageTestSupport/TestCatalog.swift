import Foundation
import NuageCatalog
import NuageCatalogPostgres
import NuageCore
import PostgresNIO

/// The catalog the engine, server and gateway tests run over: SQLite in the test's own directory
/// (the default), or, with `NUAGE_TEST_CATALOG=postgres`, a new empty database on the test
/// PostgreSQL server that `./scripts/test` starts (`NUAGE_TEST_POSTGRES_URL`, see
/// `scripts/postgres`). The same tests, either catalog: `NUAGE_TEST_CATALOG=postgres swift test`.
public enum TestCatalog {
    /// True when the tests' catalogs are PostgreSQL databases.
    public static var isPostgres: Bool {
        ProcessInfo.processInfo.environment["NUAGE_TEST_CATALOG"] == "postgres"
    }

    /// The test server's location (`NUAGE_TEST_POSTGRES_URL`).
    /// - Throws: `configuration`, saying how to get one, when it is not set.
    public static func server() throws -> PostgresLocation {
        guard let url = ProcessInfo.processInfo.environment["NUAGE_TEST_POSTGRES_URL"] else {
            throw NuageError(.configuration, "NUAGE_TEST_POSTGRES_URL is not set: ./scripts/test starts a PostgreSQL server for these tests (scripts/postgres)")
        }
        return try PostgresLocation(url: url)
    }

    /// A new, empty database on the test server (named `nuage_<random>`), as a location with the
    /// server's TLS settings.
    public static func freshDatabase() async throws -> PostgresLocation {
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
        return location
    }

    /// A new, empty PostgreSQL catalog.
    public static func freshPostgres() async throws -> PostgresCatalog {
        try await PostgresCatalog(configuration: freshDatabase().configuration(password: nil))
    }

    /// A new, empty catalog of the tests' kind: `directory/name.sqlite`, or a new database.
    public static func fresh(in directory: String, name: String = "catalog") async throws -> any Catalog {
        isPostgres ? try await freshPostgres() : try SQLiteCatalog(path: "\(directory)/\(name).sqlite")
    }

    /// `nuage.toml` text with a `[catalog]` section naming a new database when the tests' catalogs
    /// are PostgreSQL, and unchanged otherwise (the embedded SQLite catalog).
    public static func configuration(_ text: String) async throws -> String {
        guard isPostgres else { return text }
        let location = try await freshDatabase()
        let url = try url(of: location)
        guard let first = text.range(of: "[[provider]]") else { return text + "\n[catalog]\nkind = \"postgres\"\nurl = \"\(url)\"\n" }
        return text.replacingCharacters(in: first, with: "[catalog]\nkind = \"postgres\"\nurl = \"\(url)\"\n\n[[provider]]")
    }

    /// The test server's URL with its database replaced by the location's.
    static func url(of location: PostgresLocation) throws -> String {
        guard let text = ProcessInfo.processInfo.environment["NUAGE_TEST_POSTGRES_URL"],
              var components = URLComponents(string: text) else { throw NuageError(.configuration, "NUAGE_TEST_POSTGRES_URL is not set") }
        components.path = "/" + location.database
        return components.string ?? text
    }
}
