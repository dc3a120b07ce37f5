import ArgumentParser
import Foundation
import NuageCore

/// `nuage`: a sovereign object store. Every subcommand works on one data directory.
@main
struct Nuage: AsyncParsableCommand {
    /// `nuage --version`: the release, and the catalog schema and on-provider formats it writes.
    static let version = "nuage 0.9.0 (catalog schema v15; shard blob format 3, journal and audit blob format 1)"

    static let configuration = CommandConfiguration(
        commandName: "nuage",
        abstract: "Encrypted, erasure-coded object storage across providers in several jurisdictions.",
        discussion: "--data DIR names the data directory, before the command or after it (default: $NUAGE_DATA, else ./nuage-data).",
        version: Nuage.version,
        subcommands: [
            Initialize.self, BucketCommand.self, Put.self, Get.self, List.self, Remove.self, Stat.self,
            Providers.self, PolicyCommand.self, GarbageCollect.self, RepairCommand.self, Serve.self, Keys.self, Bench.self,
            Compatibility.self, Report.self, Scrub.self, Recover.self, Audit.self, KMS.self, CatalogCommand.self,
        ])

    /// Runs the command; errors become one line on stderr and exit status 1.
    static func main() async {
        ProcessMemory.keepFreedBuffers()
        do {
            var command = try parseAsRoot(try takingLeadingDataOption(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as NuageError {
            fail(error.description)
        } catch let code as ExitCode {
            // A command that has already said why it failed (`policy check`, `providers check`).
            Foundation.exit(code.rawValue)
        } catch {
            // Help and version requests succeed; any other parse error is a user mistake: one line.
            if exitCode(for: error) == .success { exit(withError: error) }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            fail(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) + " (see nuage --help)" : message)
        }
    }

    /// `--data DIR` (or `--data=DIR`) before the command: taken out of the arguments and set as
    /// `NUAGE_DATA`, which every command reads when it has no `--data` of its own.
    static func takingLeadingDataOption(_ arguments: [String]) throws -> [String] {
        var rest = arguments[...]
        while let first = rest.first, first == "--data" || first.hasPrefix("--data=") {
            rest = rest.dropFirst()
            let value: String
            if first == "--data" {
                guard let next = rest.first, !next.hasPrefix("-") else { throw ValidationError("--data needs a directory") }
                value = next
                rest = rest.dropFirst()
            } else {
                value = String(first.dropFirst("--data=".count))
            }
            guard !value.isEmpty else { throw ValidationError("--data needs a directory") }
            setenv("NUAGE_DATA", value, 1)
        }
        return Array(rest)
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
        let given = data ?? ProcessInfo.processInfo.environment["NUAGE_DATA"]
        return DataDirectoryHandle(path: given ?? "./nuage-data", isDefault: given == nil)
    }
}

/// `BUCKET/KEY` as typed on the command line.
struct ObjectPath: ExpressibleByArgument {
    var bucket: String
    var key: String

    /// `BUCKET/` (no key) is read too, so that commands can say what is missing, and `put`
    /// can name the object after its file.
    init?(argument: String) {
        guard let slash = argument.firstIndex(of: "/") else { return nil }
        bucket = String(argument[..<slash])
        key = String(argument[argument.index(after: slash)...])
        guard !bucket.isEmpty else { return nil }
    }

    /// Throws when no key follows the bucket.
    func requireKey() throws {
        guard key.isEmpty else { return }
        throw NuageError(.invalidArgument, "\(bucket)/ names no object: give BUCKET/KEY, e.g. \(bucket)/notes.txt")
    }
}
