import Foundation
import NuageConfig
import NuageEngine

/// The data directory a command works on, initialised on first use.
struct DataDirectoryHandle {
    let directory: DataDirectory

    init(path: String) { directory = DataDirectory(path: path) }

    /// The engine, running `init` first when the directory does not exist yet.
    func engine() throws -> Engine {
        try initializeIfNeeded()
        return try directory.openEngine()
    }

    /// Runs `init` when the directory has not been initialised.
    func initializeIfNeeded() throws {
        guard !directory.isInitialized else { return }
        try directory.initialize()
        note("initialised \(directory.path) with the demo providers")
    }
}

/// A line on stderr.
func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
