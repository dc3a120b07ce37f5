import ArgumentParser
import Foundation
import NuageCore
import NuageEngine

struct Scrub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every shard blob, parity included; note what is missing, short or corrupt for repair; exit 1 if any.",
        discussion: """
            Light (default): one listing per provider; every blob the catalog references must be there \
            with its length. --deep reads every shard: its header must open and every chunk's tag verify. \
            Damage is noted for `nuage repair` (which `nuage serve` runs every 30 s); a line per damaged \
            shard. `nuage serve` runs a light scrub daily and a deep one weekly.
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Read every chunk and check its tag.") var deep = false
    @Option(help: "Only the shards on this provider.") var provider: String?
    @Option(help: "Deep scrub: read at most this many MB/s.") var rate: Double?
    @Flag(help: "The report as JSON.") var json = false

    func run() async throws {
        if let rate, rate <= 0 { throw NuageError(.invalidArgument, "--rate must be positive") }
        let engine = try await global.directory.engine()
        if let provider, !engine.placement.providers.contains(where: { $0.name == provider }) {
            throw NuageError(.invalidArgument, "no provider named \(provider)")
        }
        let report = try await engine.scrub(deep: deep, provider: provider, bytesPerSecond: rate.map { Int64($0 * 1e6) })
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("\(deep ? "deep" : "light") scrub: \(report.versions) version(s), \(report.shards) shard(s) checked"
                  + (deep ? String(format: ", %.1f MB read", Double(report.bytesRead) / 1e6) : "")
                  + ", \(report.damaged.count) damaged (noted for repair), \(report.notWritten) never written (pending repair)")
            for line in report.damaged { print("  damaged: \(line)") }
            for line in report.unchecked { print("  not checked: \(line)") }
        }
        if !report.damaged.isEmpty || !report.unchecked.isEmpty { throw ExitCode.failure }
    }
}
