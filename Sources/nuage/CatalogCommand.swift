import ArgumentParser
import Foundation
import NuageCatalog
import NuageConfig
import NuageCore
import NuageAudit
import NuageGateway

struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog", abstract: "The catalog: where it is, and moving it to PostgreSQL.", subcommands: [Migrate.self])

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copies the embedded SQLite catalog into a PostgreSQL database and points nuage.toml at it.",
            discussion: """
                Stop every gateway on the data directory first. Copied: buckets and their settings, every \
                object version and delete marker with its manifests, access and KMS keys, and the journal's \
                blobs at providers. Not copied: uploads in progress and writes in flight (the command refuses \
                while there are any: complete or abort them), garbage and repair lists and scrub times (gc \
                finds orphans again, scrubs find damage again). The database must be empty (the schema is \
                created); the copy is checked against the source, and then [catalog] in nuage.toml names the \
                database. The SQLite file stays, untouched, as a fallback.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The database: postgres://USER@HOST[:PORT]/DATABASE[?sslmode=…] (no password).") var to: String
        @Option(name: .customLong("password-env"), help: "The variable holding the database password.") var passwordEnv: String?
        @Option(name: .customLong("password-file"), help: "A .pgpass-style file holding it.") var passwordFile: String?

        func run() async throws {
            let directory = global.directory.directory
            try global.directory.requireInitialized()
            let configuration = try directory.configuration()
            guard configuration.catalog == .sqlite else { throw NuageError(.invalidArgument, "the catalog is already in PostgreSQL ([catalog] in nuage.toml)") }
            guard passwordEnv == nil || passwordFile == nil else { throw NuageError(.invalidArgument, "give --password-env or --password-file, not both") }
            let source = try await directory.openCatalog(.sqlite)
            let target = Configuration.CatalogSource.postgres(url: to, passwordEnv: passwordEnv, passwordFile: passwordFile)
            let destination = try await directory.openCatalog(target)
            let report = try await CatalogMigration.copy(from: source, to: destination)
            let text = try String(contentsOfFile: directory.configurationPath, encoding: .utf8)
            try directory.writeConfiguration(Configuration.replacingCatalogSection(in: text, with: Configuration.catalogSection(target)))
            _ = try directory.configuration()  // reads back
            let engine = try await global.directory.engine()
            await AuditTrail.record(directory, engine, AuditEntry(action: "catalog.migrate", actor: "cli", detail: "to \(to): \(report)"))
            print("copied \(report) into \(to); nuage.toml now names it ([catalog]); catalog.sqlite is kept, unused")
        }
    }
}
