import Foundation
import NuageConfig
import NuageEngine

/// The data directory a command works on, initialised on first use.
struct DataDirectoryHandle {
    let directory: DataDirectory

    init(path: String) { directory = DataDirectory(path: path) }

    /// The engine, running `init` first when the directory does not exist yet.
    func engine() throws -> Engine {
        if !directory.isInitialized {
            try directory.initialize()
            note("initialised \(directory.path) with the demo providers")
        }
        return try directory.openEngine()
    }
}

/// A line on stderr.
func note(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
