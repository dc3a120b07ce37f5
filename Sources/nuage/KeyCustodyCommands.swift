import ArgumentParser
import Foundation
import NuageAudit
import NuageCore
import NuageCrypto

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
            let bytes = try MasterKey.loadBytes(from: path)
            let id = try MasterKey(bytes: bytes).id
            let engine = try global.directory.engine()
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
