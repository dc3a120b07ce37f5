import ArgumentParser
import Foundation
import NuageAudit
import NuageCore
import NuageGateway

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify, show and export the tamper-evident audit log.", subcommands: [Verify.self, Show.self, Export.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the Merkle tree over every record, check every signed checkpoint; exit 1 on any problem.",
            discussion: """
                Reports any record modified, removed, reordered or inserted, any checkpoint that does not verify \
                or match, and records left long without a checkpoint. --from-providers also compares the log \
                with its copies at the providers, which catches a log rolled back to an older copy.
                """)
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Also compare with the copies kept at providers.") var fromProviders = false
        @Flag(help: "The result as JSON.") var json = false

        func run() async throws {
            try global.directory.requireInitialized()
            let log = try AuditTrail.open(global.directory.directory)
            var copies: [AuditCopy]?, copyProblems: [String] = []
            if fromProviders {
                let engine = try await global.directory.engine()
                (copies, copyProblems) = await AuditTrail.copies(engine)
            }
            var result = AuditVerifier.verify(records: try await log.recordBytes(), notes: try await log.checkpointNotes(),
                                              key: log.key.publicKey, copies: copies)
            result.problems += copyProblems
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print("\(result.records) record(s), \(result.checkpoints) checkpoint(s) signed by \(log.key.name); "
                      + "verified through record #\(result.verifiedThrough)"
                      + (fromProviders ? "; \(result.copiesCompared) copies at providers compared" : ""))
                for problem in result.problems { print("  PROBLEM  \(problem)") }
                if result.problems.isEmpty { print("  intact") }
            }
            if !result.problems.isEmpty { throw ExitCode.failure }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print audit records.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only records at or after this time (ISO 8601, e.g. 2026-12-06T10:00:00Z).") var since: String?
        @Option(help: "Only records of this access key.") var key: String?
        @Flag(help: "One JSON record a line.") var json = false

        func run() async throws {
            try global.directory.requireInitialized()
            let log = try AuditTrail.open(global.directory.directory)
            var sinceDate: Date?
            if let since {
                guard let date = ISO8601DateFormatter().date(from: since) else { throw NuageError(.invalidArgument, "--since must be ISO 8601, not \(since)") }
                sinceDate = date
            }
            let decoder = JSONDecoder()
            for bytes in try await log.recordBytes() {
                guard let record = try? decoder.decode(AuditRecord.self, from: Data(bytes)) else { continue }
                if let key, record.accessKey != key { continue }
                if let sinceDate, let time = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(record.time), time < sinceDate { continue }
                if json {
                    print(String(decoding: bytes, as: UTF8.self))
                } else {
                    let target = [record.bucket, record.key].compactMap { $0 }.joined(separator: "/")
                    print("#\(record.index)  \(record.time)  \(record.action.rightPadded(24))  \(record.outcome.rightPadded(20))  "
                          + "\((record.accessKey ?? record.actor).rightPadded(20))  \(record.address ?? "-")  \(target)\(record.detail.map { "  (\($0))" } ?? "")")
                }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a bundle an auditor can check without Nuage (docs/AUDIT.md says how).",
            discussion: """
                DIR/records.jsonl (each record's exact bytes, one a line), DIR/checkpoints/SIZE.txt (the signed \
                notes), DIR/audit.vkey (the public key, C2SP verifier-key form), DIR/inclusion.jsonl (an inclusion \
                proof of every record in the newest checkpoint) and DIR/consistency.jsonl (a consistency proof \
                between each checkpoint and the next).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "A directory to create.") var directory: String

        func run() async throws {
            try global.directory.requireInitialized()
            let log = try AuditTrail.open(global.directory.directory)
            try await log.checkpoint()
            let records = try await log.recordBytes()
            let notes = try await log.checkpointNotes()
            let checkpoints = try notes.map { try Checkpoint.open($0, key: log.key.publicKey) }
            let manager = FileManager.default
            guard !manager.fileExists(atPath: directory) else { throw NuageError(.invalidArgument, "\(directory) exists already") }
            try manager.createDirectory(atPath: directory + "/checkpoints", withIntermediateDirectories: true)
            try Data(records.map { $0 + [0x0A] }.joined()).write(to: URL(fileURLWithPath: directory + "/records.jsonl"))
            for (note, checkpoint) in zip(notes, checkpoints) {
                try note.write(toFile: "\(directory)/checkpoints/\(checkpoint.size).txt", atomically: true, encoding: .utf8)
            }
            try (log.key.publicKey.verifierKey + "\n").write(toFile: directory + "/audit.vkey", atomically: true, encoding: .utf8)
            let leaves = records.map(MerkleTree.leafHash)
            func line(_ object: [String: Any]) throws -> String {
                String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
            }
            var inclusion: [String] = []
            if let newest = checkpoints.max(by: { $0.size < $1.size }), newest.size > 0 {
                for index in 0..<newest.size {
                    let path = MerkleTree.inclusionProof(index, leaves.prefix(newest.size)).map { Data($0).base64EncodedString() }
                    inclusion.append(try line(["index": index, "size": newest.size, "path": path]))
                }
            }
            var consistency: [String] = []
            let sizes = Array(Set(checkpoints.map(\.size))).sorted()
            for (first, second) in zip(sizes, sizes.dropFirst()) {
                let path = MerkleTree.consistencyProof(first, leaves.prefix(second)).map { Data($0).base64EncodedString() }
                consistency.append(try line(["from": first, "to": second, "path": path]))
            }
            try (inclusion.map { $0 + "\n" }.joined()).write(toFile: directory + "/inclusion.jsonl", atomically: true, encoding: .utf8)
            try (consistency.map { $0 + "\n" }.joined()).write(toFile: directory + "/consistency.jsonl", atomically: true, encoding: .utf8)
            print("exported \(records.count) record(s) and \(notes.count) checkpoint(s) to \(directory)")
        }
    }
}
