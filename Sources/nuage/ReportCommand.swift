import ArgumentParser
import Foundation
import NuageAudit
import NuageCore
import NuageEngine
import NuageGateway

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reports on what the gateway stores.", subcommands: [Exposure.self])

    struct Exposure: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per jurisdiction: providers, objects, shards and bytes held; objects it holds k shards of; objects lost with it.",
            discussion: """
                Read from the catalog alone: no provider is contacted. A provider counts against both its \
                location and its operator's jurisdiction (HK and MO count as CN). --what-if-deny and \
                --what-if-remove say what a ban or the loss of providers would take: the objects affected, \
                the shards and bytes to move and from where, which providers could take them, and whether \
                new objects could still be placed. Nothing is changed. `nuage serve` answers the same as \
                JSON at GET /_nuage/exposure (keys not limited to buckets).
                """)
        @OptionGroup var global: GlobalOptions
        @Flag(help: "As JSON.") var json = false
        @Flag(help: "The per-jurisdiction table as CSV.") var csv = false
        @Option(name: .customLong("what-if-deny"), help: "A country code or preset that might be denied (repeatable).") var deny: [String] = []
        @Option(name: .customLong("what-if-remove"), help: "A provider that might be lost (repeatable).") var remove: [String] = []

        func run() async throws {
            let engine = try await global.directory.engine()
            for name in remove where !engine.placement.providers.contains(where: { $0.name == name }) {
                throw NuageError(.invalidArgument, "no provider named \(name)")
            }
            let report = try await engine.exposure(whatIfDeny: deny, whatIfRemove: remove)
            await AuditTrail.record(global.directory.directory, engine, AuditEntry(
                action: "report.exposure", actor: "cli", detail: (deny.map { "what-if-deny \($0)" } + remove.map { "what-if-remove \($0)" }).joined(separator: ", ")))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else if csv {
                print("jurisdiction,providers,objects,shards,bytes,objects_with_k_shards,objects_lost_with_it")
                for j in report.jurisdictions {
                    print("\(j.code),\(j.providers.joined(separator: " ")),\(j.objects),\(j.shards),\(j.bytes),\(j.objectsWithKShards),\(j.objectsLostWithIt)")
                }
            } else {
                print(Self.describe(report))
            }
        }

        static func describe(_ r: Engine.ExposureReport) -> String {
            var lines = ["exposure at \(ISO8601DateFormatter().string(from: r.generated)), policy \(r.policy)",
                         "catalog digest \(r.catalogDigest) over \(r.objects) object(s)"]
            for (name, source) in r.presets.sorted(by: { $0.key < $1.key }) { lines.append("preset \(name): \(source)") }
            lines.append("")
            lines.append("where  objects   shards          bytes  ≥k shards  lost with it  providers")
            for j in r.jurisdictions {
                lines.append("\(j.code.rightPadded(5))  \(String(j.objects).leftPadded(7))  \(String(j.shards).leftPadded(7))  \(String(j.bytes).leftPadded(13))  "
                             + "\(String(j.objectsWithKShards).leftPadded(9))  \(String(j.objectsLostWithIt).leftPadded(12))  \(j.providers.joined(separator: ", "))")
                for object in j.lostWithIt.prefix(10) { lines.append("       lost with \(j.code): \(object)") }
            }
            lines.append("")
            lines.append("shards on denied or draining providers: \(r.shardsOnExcludedProviders) (of \(r.objectsOnExcludedProviders) object(s))")
            lines.append("objects below full redundancy: \(r.objectsBelowFullRedundancy)")
            if !r.destroyedKMSKeys.isEmpty {
                lines.append("crypto-shredded: \(r.shreddedObjects) object(s) under destroyed KMS key(s) \(r.destroyedKMSKeys.joined(separator: ", ")) "
                             + "are unreadable by anyone, whatever copies providers keep; \(r.shreddedBytes) bytes of their ciphertext "
                             + "wait for nuage gc (docs/SECURITY.md, crypto-shredding)")
                for j in r.jurisdictions where j.shreddedObjects > 0 { lines.append("  \(j.code): \(j.shreddedObjects) shredded object(s) with shards there") }
            }
            if let w = r.whatIf {
                lines.append("")
                lines.append("what if \((w.deny.map { "\($0) were denied" } + w.remove.map { "\($0) were lost" }).joined(separator: " and ")):")
                lines.append("  providers affected: \(w.affectedProviders.isEmpty ? "none" : w.affectedProviders.joined(separator: ", "))")
                lines.append("  objects affected: \(w.affectedObjects); \(w.shardsToMove) shard(s), \(w.bytesToMove) bytes to move")
                for (provider, bytes) in w.from.sorted(by: { $0.key < $1.key }) { lines.append("    from \(provider): \(bytes) bytes") }
                lines.append("  to: \(w.to.joined(separator: ", "))")
                lines.append(w.placeable ? "  new objects could still be placed" : "  new objects could NOT be placed: \(w.problems.joined(separator: "; "))")
            }
            return lines.joined(separator: "\n")
        }
    }
}
