import ArgumentParser
import Foundation
import NuageCore

/// `nuage`: a sovereign object store. Every subcommand works on one data directory.
@main
struct Nuage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nuage",
        abstract: "Encrypted, erasure-coded object storage across providers in several jurisdictions.",
        subcommands: [
            Initialize.self, BucketCommand.self, Put.self, Get.self, List.self, Remove.self, Stat.self,
            Providers.self, PolicyCommand.self, GarbageCollect.self, RepairCommand.self, Serve.self, Keys.self, Bench.self,
        ])

    /// Runs the command; errors become one line on stderr and exit status 1.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as NuageError {
            fail(error.description)
        } catch {
            // Help and version requests succeed; any other parse error is a user mistake: one line.
            if exitCode(for: error) == .success { exit(withError: error) }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            fail(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) + " (see nuage --help)" : message)
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("nuage: \(message)\n".utf8))
        Foundation.exit(1)
    }
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Data directory (default: $NUAGE_DATA, else ./nuage-data).")
    var data: String?

    var directory: DataDirectoryHandle {
        DataDirectoryHandle(path: data ?? ProcessInfo.processInfo.environment["NUAGE_DATA"] ?? "./nuage-data")
    }
}

/// `BUCKET/KEY` as typed on the command line.
struct ObjectPath: ExpressibleByArgument {
    var bucket: String
    var key: String

    init?(argument: String) {
        guard let slash = argument.firstIndex(of: "/") else { return nil }
        bucket = String(argument[..<slash])
        key = String(argument[argument.index(after: slash)...])
        guard !bucket.isEmpty, !key.isEmpty else { return nil }
    }
}
