import Logging
import NuageGateway
import Foundation
import NuageConfig
import NuageCore
import NuageEngine

/// The data directory a command works on. Only `nuage init` creates one, and `nuage serve` on
/// the default `./nuage-data` when neither `--data` nor `$NUAGE_DATA` names another: a mistyped
/// path is an error, not a new directory with a new master key.
struct DataDirectoryHandle {
    let directory: DataDirectory
    /// The path is the default, not given by `--data` or `$NUAGE_DATA`.
    let isDefault: Bool

    init(path: String, isDefault: Bool = false) {
        directory = DataDirectory(path: path)
        self.isDefault = isDefault
    }

    /// The engine of an initialised directory.
    /// - Parameter clients: the HTTP clients of its S3 providers (a serving gateway owns its own).
    func engine(clients: ProviderFactory.HTTPClients = .process) async throws -> Engine {
        try requireInitialized()
        return try await directory.openEngine(clients: clients)
    }

    /// Throws unless `nuage init` has run here.
    func requireInitialized() throws {
        guard !directory.isInitialized else { return }
        throw NuageError(.configuration, "no Nuage data directory at \(directory.path) (no nuage.toml): "
                         + "`nuage init --data \(directory.path)` creates one; otherwise check --data and $NUAGE_DATA")
    }

    /// For `serve`: writes the embedded default on first use of the default directory, saying so.
    func initializeDefaultIfNeeded() throws {
        guard !directory.isInitialized, isDefault else { return }
        try directory.initialize()
        note("initialised \(directory.path) with the demo providers (the embedded default)")
    }
}

/// A line on stderr.
func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Where commands other than `serve` log what they tolerate (a drain journal that cannot be
/// written): plain lines on stderr.
let cliLogger = Logger(label: "nuage") { label in LogFormat.text.handler(label: label) }
