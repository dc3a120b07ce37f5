import ArgumentParser
import Foundation
import NuagePKCS11
import NuageAudit
import NuageCore
import NuageConfig
import NuageCrypto
import NuageEngine
import NuageGateway

extension Keys {
    /// `nuage keys split-master`: the master key as shares for officers who keep them apart.
    struct SplitMaster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "split-master",
            abstract: "Print the master key as N shares, one a line, any T of which rebuild it (nuage keys join-master).",
            discussion: """
                Shamir's scheme over GF(2^8): fewer than T shares tell nothing about the key. Give each share \
                to a different officer, in different countries; then master.key can be removed from the \
                machine and rebuilt when needed. Each line carries the key's id, T, its index and a checksum.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "Shares to print (N, at most 255).") var shares: Int
        @Option(help: "Shares needed to rebuild the key (T, at least 2).") var threshold: Int

        func run() async throws {
            try global.directory.requireInitialized()
            let path = global.directory.directory.masterKeyPath
            if try global.directory.directory.configuration().masterKey != .file {
                throw NuageError(.configuration, "the master key is in a token ([master-key] in nuage.toml), which never lets it out: there is nothing to split")
            }
            let bytes = try MasterKey.loadBytes(from: path)
            let id = try MasterKey(bytes: bytes).id
            let engine = try await global.directory.engine()
            for share in try SecretSharing.split(bytes, keyID: id, count: shares, threshold: threshold) { print(share.line) }
            await AuditTrail.record(global.directory.directory, engine, AuditEntry(
                action: "key.split-master", actor: "cli", detail: "key \(String(format: "%08x", id)): \(threshold) of \(shares) shares"))
        }
    }

    /// `nuage keys join-master`: the master key rebuilt from T shares read on standard input.
    struct JoinMaster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "join-master",
            abstract: "Rebuild master.key from T shares read one a line on standard input.",
            discussion: """
                Refuses a mistyped share (its checksum), shares of another key, and a result whose id does \
                not match the shares'. Never overwrites a different master.key; the data directory must exist \
                (copy nuage.toml there, or run nuage init elsewhere first).
                """)
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let directory = global.directory.directory
            guard FileManager.default.fileExists(atPath: directory.path) else {
                throw NuageError(.configuration, "no directory \(directory.path): create it (with its nuage.toml) first")
            }
            var shares: [SecretSharing.Share] = []
            while let line = readLine() {
                guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
                let share = try SecretSharing.Share(line: line)
                if let first = shares.first, share.keyID != first.keyID {
                    throw NuageError(.invalidArgument, "share \(share.index) belongs to another key than share \(first.index)")
                }
                guard !shares.contains(where: { $0.index == share.index }) else {
                    throw NuageError(.invalidArgument, "share \(share.index) is given twice")
                }
                shares.append(share)
                if shares.count == share.threshold { break }
            }
            let bytes = try SecretSharing.join(shares)
            let key = try MasterKey(bytes: bytes)
            guard key.id == shares[0].keyID else {
                throw NuageError(.invalidArgument, "the shares do not rebuild key \(String(format: "%08x", shares[0].keyID)): one of them is wrong")
            }
            let path = directory.masterKeyPath
            if FileManager.default.fileExists(atPath: path) {
                guard (try? MasterKey.loadBytes(from: path)) == bytes else {
                    throw NuageError(.configuration, "\(path) exists and holds another key: not overwritten")
                }
                print("\(path) already holds this key (id \(String(format: "%08x", key.id)))")
                return
            }
            try MasterKey.create(at: path, bytes: bytes)
            print("rebuilt \(path) (key id \(String(format: "%08x", key.id))) from \(shares.count) shares")
        }
    }
}

extension Keys {
    /// `nuage keys rotate-master`: a new active master key; everything moves to it.
    struct RotateMaster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-master",
            abstract: "Make a new master key active and move everything to it (stop every gateway on this data first).",
            discussion: """
                The current key moves to master.key.d/ID.key (a key in a token: master.key.d/ID.toml names \
                it) and still opens what it sealed. With --to pkcs11 the new key is in a token (created there, \
                or adopted) and nuage.toml names it; from a token with --to file, a new master.key. Then, as \
                nuage keys rekey does: every shard is copied with its header sealed anew and every data \
                key rewrapped (no byte of object data is re-encrypted), access-key secrets are sealed \
                anew, the catalog journal and the audit log's copies at providers are written again under \
                the new key. Resumable with nuage keys rekey. Retire the old key with nuage keys retire-master.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "Where the new key lives: file (a new master.key) or pkcs11 (a key in a token, created or adopted).")
        var to = "file"
        @Option(help: "pkcs11: the PKCS#11 library.") var module: String?
        @Option(help: "pkcs11: the token and key, pkcs11:token=LABEL;object=LABEL.") var uri: String?
        @Option(help: "pkcs11: the environment variable holding the user PIN.") var pinEnv: String?
        @Option(help: "pkcs11: a file (mode 0600) holding the PIN.") var pinFile: String?

        func run() async throws {
            let directory = global.directory.directory
            try global.directory.requireInitialized()
            let configuration = try directory.configuration()
            let current = try directory.masterKey(configuration)
            let manager = FileManager.default
            try manager.createDirectory(atPath: directory.olderKeysPath, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let currentID = String(format: "%08x", current.id)
            // The current key is kept first: a crash later leaves both keys held, never neither.
            let kept: String
            switch configuration.masterKey {
            case .file:
                kept = "\(directory.olderKeysPath)/\(currentID).key"
                if !manager.fileExists(atPath: kept) { try MasterKey.create(at: kept, bytes: try MasterKey.loadBytes(from: directory.masterKeyPath)) }
            case .pkcs11(let settings):
                kept = "\(directory.olderKeysPath)/\(currentID).toml"
                if !manager.fileExists(atPath: kept) { try directory.writeDurably(Configuration.masterKeySection(settings), to: kept) }
            }
            let text = String(decoding: manager.contents(atPath: directory.configurationPath) ?? Data(), as: UTF8.self)
            let fresh: MasterKey
            switch to {
            case "file":
                guard module == nil, uri == nil, pinEnv == nil, pinFile == nil else {
                    throw ValidationError("--module, --uri, --pin-env and --pin-file go with --to pkcs11")
                }
                // The new key replaces master.key in one rename, after the old one is safe beside it.
                let staged = directory.masterKeyPath + ".new"
                try? manager.removeItem(atPath: staged)
                fresh = try MasterKey.create(at: staged)
                guard rename(staged, directory.masterKeyPath) == 0 else {
                    throw NuageError(.configuration, "cannot install the new master key: \(String(cString: strerror(errno)))")
                }
                if configuration.masterKey != .file {
                    try directory.writeConfiguration(Configuration.replacingMasterKeySection(in: text, with: nil))
                }
                print("master key \(String(format: "%08x", fresh.id)) is active; \(currentID) is kept in \(kept)")
            case "pkcs11":
                guard let module, let uri else { throw ValidationError("--to pkcs11 needs --module and --uri") }
                guard (pinEnv == nil) != (pinFile == nil) else { throw ValidationError("--to pkcs11 needs one of --pin-env or --pin-file") }
                let settings = Configuration.PKCS11Settings(module: module, uri: try PKCS11URI(uri), pinEnv: pinEnv, pinFile: pinFile)
                let (token, created) = try directory.openToken(settings, create: true)
                fresh = try MasterKey(token: token)
                guard fresh.id != current.id else { throw NuageError(.configuration, "\(settings.uri) is the current master key") }
                let updated = Configuration.replacingMasterKeySection(in: text, with: Configuration.masterKeySection(settings))
                _ = try Configuration(toml: updated)
                try directory.writeConfiguration(updated)
                // nuage.toml names the token before master.key goes (the old key is in master.key.d).
                if manager.fileExists(atPath: directory.masterKeyPath) { try manager.removeItem(atPath: directory.masterKeyPath) }
                print("master key \(String(format: "%08x", fresh.id)) (\(settings.uri), \(created ? "created" : "adopted") in the token) is active; "
                      + "\(currentID) is kept in \(kept) until nuage keys retire-master")
            default:
                throw ValidationError("--to is file or pkcs11")
            }
            try await Rekey.run(global, action: "key.rotate-master", detail: "\(currentID) → \(String(format: "%08x", fresh.id))")
        }
    }

    /// `nuage keys rekey`: what is still under an older key moves to the active one.
    struct Rekey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move everything still under an older master key to the active one (resumes an interrupted rotation).")
        @OptionGroup var global: GlobalOptions

        func run() async throws { try await Self.run(global, action: "key.rekey", detail: nil) }

        static func run(_ global: GlobalOptions, action: String, detail: String?) async throws {
            let directory = global.directory.directory
            let engine = try await global.directory.engine()
            let report = try await engine.rekey()
            try await AuditTrail.open(directory).append(AuditEntry(
                action: action, actor: "cli", outcome: report.failed.isEmpty ? "ok" : "\(report.failed.count) not moved",
                detail: detail ?? "\(report.versions) version(s)"))
            try await AuditTrail.checkpointAndShip(try AuditTrail.open(directory), engine, whole: true)
            let (deleted, failed) = try await engine.collectDueGarbage()
            print("moved \(report.versions) version(s) to key \(String(format: "%08x", engine.masterKey.id)): \(report.shards) shard(s) "
                  + "copied with new headers (\(report.bytesCopied) bytes, none re-encrypted), \(report.secrets) secret(s) sealed anew, \(report.kmsKeys) KMS key(s) wrapped anew; "
                  + "journal and audit copies written again (\(deleted) older blob(s) deleted\(failed > 0 ? ", \(failed) not yet" : ""))")
            if report.uploadParts > 0 { print("  \(report.uploadParts) part(s) of uploads in progress stay under an older key until completed or aborted") }
            for line in report.failed { print("  not moved: \(line)") }
            if !report.failed.isEmpty { throw ExitCode.failure }
        }

    }

    /// `nuage keys retire-master ID`: an older key destroyed once nothing needs it.
    struct RetireMaster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retire-master",
            abstract: "Destroy an older master key once nothing needs it (refused, saying what, otherwise).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The key's id, 8 hex digits (as rotate-master printed it).") var id: String

        func run() async throws {
            guard let keyID = UInt32(id, radix: 16), id.count == 8 else { throw NuageError(.invalidArgument, "a key id is 8 hex digits, not \(id)") }
            let directory = global.directory.directory
            let engine = try await global.directory.engine()
            if keyID != engine.masterKey.id && engine.olderKeys.contains(where: { $0.id == keyID }) {
                // What a gateway sealed under the old key before it read the new one: a snapshot
                // and one audit copy under the active key supersede it.
                try await engine.snapshotCatalog()
                try await AuditTrail.checkpointAndShip(try AuditTrail.open(directory), engine, whole: true)
                _ = try await engine.collectDueGarbage()
            }
            let blockers = try await engine.retirementBlockers(keyID: keyID)
            guard blockers.isEmpty else {
                print("master key \(id) is still needed:")
                for line in blockers { print("  \(line)") }
                throw ExitCode.failure
            }
            let reference = "\(directory.olderKeysPath)/\(id.lowercased()).toml"
            if FileManager.default.fileExists(atPath: reference) {
                // A key in a token: destroyed there, then its reference goes.
                guard case .pkcs11(let settings) = try directory.olderTokenKey(at: reference) else {
                    throw NuageError(.configuration, "\(reference) does not name a key in a token")
                }
                let token = try directory.openToken(settings, create: false).token
                // The label may name another key by now: destroy only the key with this id.
                guard try MasterKey(token: token).id == keyID else {
                    throw NuageError(.configuration, "\(settings.uri) is no longer master key \(id); nothing destroyed")
                }
                try token.destroyKey()
                try FileManager.default.removeItem(atPath: reference)
                await AuditTrail.record(directory, engine, AuditEntry(action: "key.retire-master", actor: "cli", detail: id.lowercased()))
                print("master key \(id) retired: destroyed in its token, \(reference) removed")
                return
            }
            let path = "\(directory.olderKeysPath)/\(id.lowercased()).key"
            // Overwritten before it is unlinked, so that the bytes do not linger in the file's blocks.
            if let handle = FileHandle(forWritingAtPath: path) {
                handle.write(Data(count: MasterKey.byteCount))
                try handle.synchronize()
                try handle.close()
            }
            try FileManager.default.removeItem(atPath: path)
            await AuditTrail.record(directory, engine, AuditEntry(action: "key.retire-master", actor: "cli", detail: id.lowercased()))
            print("master key \(id) retired: \(path) overwritten and removed")
        }
    }
}
