import Foundation
@testable import NuageAudit
import NuageCore
import Testing

/// The log, its checkpoints and every kind of tampering `verify` must catch.
@Suite struct AuditLogTests {
    let root = NSTemporaryDirectory() + "nuage-audit-\(UUID().uuidString)"

    func filled(records: Int = 12, checkpointEvery: Int = 4) async throws -> AuditLog {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let log = try AuditLog(path: root + "/audit.sqlite", keyPath: root + "/audit.key")
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        for i in 0..<records {
            try await log.append(AuditEntry(action: "s3:PutObject", actor: "s3", accessKey: "NUKEY\(i % 3)", address: "10.0.0.\(i)",
                                            bucket: "b", key: "k\(i)"), at: start.addingTimeInterval(Double(i)))
            if (i + 1) % checkpointEvery == 0 { try await log.checkpoint(at: start.addingTimeInterval(Double(i) + 0.5)) }
        }
        return log
    }

    func verify(_ log: AuditLog, records: [[UInt8]]? = nil, notes: [String]? = nil, copies: [AuditCopy]? = nil) async throws -> AuditVerification {
        let stored = try await log.recordBytes(), storedNotes = try await log.checkpointNotes()
        return AuditVerifier.verify(records: records ?? stored, notes: notes ?? storedNotes, key: log.key.publicKey, copies: copies)
    }

    @Test func aCleanLogVerifies() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let log = try await filled()
        let result = try await verify(log)
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.records == 12 && result.checkpoints == 3 && result.verifiedThrough == 12)
        // Nothing new: no new checkpoint.
        #expect(try await log.checkpoint() == nil)
        // The key is kept: a reopened log signs with the same one.
        let again = try AuditLog(path: root + "/audit.sqlite", keyPath: root + "/audit.key")
        #expect(again.key.publicKey == log.key.publicKey)
        let mode = try FileManager.default.attributesOfItem(atPath: root + "/audit.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func flippingAnyByteOfAnyRecordIsCaught() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let log = try await filled()
        let records = try await log.recordBytes()
        var checked = 0
        for index in records.indices {
            for position in stride(from: 0, to: records[index].count, by: 7) {
                var altered = records
                altered[index][position] ^= 0x01
                #expect(!(try await verify(log, records: altered)).problems.isEmpty, "record \(index) byte \(position)")
                checked += 1
            }
        }
        #expect(checked > 100)
    }

    @Test func removingReorderingOrInsertingIsCaught() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let log = try await filled()
        let records = try await log.recordBytes()
        for n in 1...3 {
            let result = try await verify(log, records: Array(records.dropLast(n)))
            #expect(result.problems.contains { $0.contains("the last \(n) were removed") }, "\(result.problems)")
        }
        var swapped = records
        swapped.swapAt(3, 5)
        #expect(!(try await verify(log, records: swapped)).problems.isEmpty)
        var removed = records
        removed.remove(at: 2)
        #expect(!(try await verify(log, records: removed)).problems.isEmpty)
        var inserted = records
        inserted.insert(records[1], at: 6)
        #expect(!(try await verify(log, records: inserted)).problems.isEmpty)
        // A checkpoint altered or dropped and re-signed by someone without the key.
        var notes = try await log.checkpointNotes()
        notes[1] = notes[1].replacingOccurrences(of: "\n8\n", with: "\n7\n")
        #expect(try await verify(log, notes: notes).problems.contains { $0.contains("does not verify") })
    }

    @Test func anOlderCopyOfTheLogIsCaughtByTheCopiesAtProviders() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let log = try await filled()
        let records = try await log.recordBytes(), notes = try await log.checkpointNotes()
        let copies = [AuditCopy(first: 0, records: Array(records.prefix(8)), note: notes[1]),
                      AuditCopy(first: 8, records: Array(records.suffix(4)), note: notes[2])]
        #expect(try await verify(log, copies: copies).problems.isEmpty)
        // The local log and its checkpoints as they were after record 8: alone, consistent...
        let older = Array(records.prefix(8)), olderNotes = Array(notes.prefix(2))
        #expect(try await verify(log, records: older, notes: olderNotes).problems.isEmpty)
        // ...but the providers hold a later checkpoint.
        let result = try await verify(log, records: older, notes: olderNotes, copies: copies)
        #expect(result.problems.contains { $0.contains("rolled back or truncated") }, "\(result.problems)")
        // A record rewritten and re-signed with the gateway's own key still differs from its copy.
        var rewritten = records
        rewritten[2] = Array(String(decoding: rewritten[2], as: UTF8.self).replacingOccurrences(of: "k2", with: "kX").utf8)
        let forged = Checkpoint(origin: log.key.name, size: 12, root: MerkleTree.root(rewritten.map(MerkleTree.leafHash)), time: 1_900_000_000)
        let resigned = try await verify(log, records: rewritten, notes: [try forged.signed(with: log.key)], copies: copies)
        #expect(resigned.problems.contains { $0.contains("record #2 differs from its copy at providers") }, "\(resigned.problems)")
    }

    @Test func checkpointsAreC2SPSignedNotes() async throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let log = try await filled(records: 4, checkpointEvery: 4)
        let note = try #require(try await log.checkpointNotes().first)
        let lines = note.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == Substring(log.key.name) && lines[1] == "4" && lines[3].hasPrefix("time ") && lines[4] == "")
        #expect(lines[5].hasPrefix("\u{2014} \(log.key.name) "))
        let vkey = log.key.publicKey.verifierKey
        #expect(try AuditKey.Public(verifierKey: vkey) == log.key.publicKey)
        let other = try AuditKey(raw: Array(repeating: 7, count: 32))
        #expect(throws: NuageError.self) { try Checkpoint.open(note, key: other.publicKey) }
    }
}
