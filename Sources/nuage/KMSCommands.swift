import ArgumentParser
import Foundation
import NuageAudit
import NuageCatalog
import NuageCore
import NuageEngine
import NuageGateway

/// `nuage kms`: the gateway's key service (SSE-KMS). Every change is written to the audit log,
/// which names the key by its id (`nuage kms ls` shows which name it has).
struct KMS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kms",
        abstract: "Create, list, disable, enable and destroy the KMS keys that S3 clients name with SSE-KMS.",
        discussion: """
            A KMS key is 32 random bytes wrapped under the master key (inside the HSM's protection when \
            the master key is in one). Objects written with x-amz-server-side-encryption: aws:kms have their \
            data keys wrapped under it. A disabled key refuses reads and writes (on every gateway within 2 \
            seconds); a destroyed key makes every object under it unreadable for good (crypto-shredding, \
            docs/SECURITY.md).
            """,
        subcommands: [Create.self, ListKeys.self, Disable.self, Enable.self, Destroy.self, CancelDestroy.self])

    static func audit(_ global: GlobalOptions, _ engine: Engine, _ action: String, _ record: KMSKeyRecord, _ detail: String = "") async {
        await AuditTrail.record(global.directory.directory, engine, AuditEntry(
            action: "kms.\(action)", actor: "cli", detail: "key id \(record.id.hex)" + (detail.isEmpty ? "" : ", \(detail)")))
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a KMS key (enabled).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The key's name: 1 to 64 of A-Z a-z 0-9 / _ - (never reused, even once destroyed).") var name: String
        @Option(help: "The owner (account) whose buckets may use the key.") var owner = Owner.default

        func run() async throws {
            let engine = try await global.directory.engine()
            let record = try await engine.createKMSKey(name: name, owner: owner)
            await KMS.audit(global, engine, "create", record)
            print("created KMS key \(record.name) (id \(record.id.hex), wrapped under master key \(String(format: "%08x", record.masterKeyID)))")
        }
    }

    struct ListKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List KMS keys and their states.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON (without the wrapped key bytes).") var json = false

        func run() async throws {
            let engine = try await global.directory.engine()
            let keys = try await engine.kmsKeys()
            let iso = ISO8601DateFormatter()
            if json {
                let rows = keys.map { key in
                    ["name": key.name, "owner": key.owner, "id": key.id.hex, "state": key.state.rawValue, "created": iso.string(from: key.created),
                     "deletionDate": key.deletionDate.map(iso.string(from:)) ?? "", "masterKeyID": String(format: "%08x", key.masterKeyID)]
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(rows), as: UTF8.self))
                return
            }
            let heading: [String] = ["name".rightPadded(24), "owner".rightPadded(12), "id".rightPadded(32), "state".rightPadded(15),
                                     "created               deletion"]
            print(heading.joined(separator: "  "))
            for key in keys {
                let columns: [String] = [key.name.rightPadded(24), key.owner.rightPadded(12), key.id.hex, key.state.rawValue.rightPadded(15),
                                         iso.string(from: key.created), key.deletionDate.map(iso.string(from:)) ?? "-"]
                print(columns.joined(separator: "  "))
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a key: reads and writes under it are refused until it is enabled.")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String

        func run() async throws {
            let engine = try await global.directory.engine()
            let record = try await engine.setKMSKey(name: name, enabled: false)
            await KMS.audit(global, engine, "disable", record)
            print("disabled KMS key \(name): gateways refuse it within 2 seconds")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled key.")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String

        func run() async throws {
            let engine = try await global.directory.engine()
            let record = try await engine.setKMSKey(name: name, enabled: true)
            await KMS.audit(global, engine, "enable", record)
            print("enabled KMS key \(name)")
        }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Schedule a key's destruction (refused at once, destroyed after the waiting period), or destroy it now.",
            discussion: """
                Destruction erases the key's wrapped bytes from the catalog and replaces the journal at the \
                providers by a snapshot without them: every object under the key becomes unreadable by anyone, \
                whatever copies providers keep (docs/SECURITY.md says what this proves and its limits). A \
                scheduled destruction is carried out by a serving gateway or by nuage gc once due, and can be \
                cancelled until then with nuage kms cancel-destroy.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument var name: String
        @Option(help: "Days to wait before the destruction (1 to 30).") var days = Engine.kmsDefaultWaitingDays
        @Flag(help: "Destroy now: there is no undo.") var now = false
        @Flag(help: "With --now: do not ask for confirmation.") var yes = false

        func run() async throws {
            let engine = try await global.directory.engine()
            guard now else {
                let record = try await engine.scheduleKMSKeyDestruction(name: name, days: days)
                await KMS.audit(global, engine, "schedule-destroy", record, "due \(ISO8601DateFormatter().string(from: record.deletionDate ?? Date()))")
                print("KMS key \(name) is pending deletion: refused from now on, destroyed on "
                      + "\(ISO8601DateFormatter().string(from: record.deletionDate ?? Date())) unless nuage kms cancel-destroy \(name)")
                return
            }
            if !yes {
                guard isatty(STDIN_FILENO) != 0 else {
                    throw NuageError(.invalidArgument, "destroy --now asks for confirmation on a terminal; give --yes to destroy without asking")
                }
                print("Destroying KMS key \(name) makes every object under it unreadable for good. Type its name to confirm: ", terminator: "")
                guard readLine()?.trimmingCharacters(in: .whitespaces) == name else {
                    throw NuageError(.invalidArgument, "not confirmed: nothing was destroyed")
                }
            }
            let destruction = try await engine.destroyKMSKey(name: name)
            await KMS.audit(global, engine, "destroy", destruction.key,
                            "\(destruction.journalBlobsRetired) journal blob(s) that held it replaced by a snapshot")
            print("destroyed KMS key \(name): the objects under it are crypto-shredded (nuage gc removes them); "
                  + "\(destruction.journalBlobsRetired) journal blob(s) that held its wrapped bytes replaced by a snapshot")
            for problem in destruction.problems { print("  not finished: \(problem)") }
        }
    }

    struct CancelDestroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "cancel-destroy",
                                                        abstract: "Cancel a scheduled destruction; the key stays disabled (enable it to use it).")
        @OptionGroup var global: GlobalOptions
        @Argument var name: String

        func run() async throws {
            let engine = try await global.directory.engine()
            let record = try await engine.cancelKMSKeyDestruction(name: name)
            await KMS.audit(global, engine, "cancel-destroy", record)
            print("KMS key \(name) is no longer pending deletion; it is disabled (nuage kms enable \(name) to use it)")
        }
    }
}
