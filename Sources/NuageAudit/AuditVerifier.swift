import Foundation
import NuageCore

/// A copy of the log kept at providers: the records since the previous copy and the checkpoint
/// signed over all of them.
public struct AuditCopy: Codable, Hashable, Sendable {
    /// The index of the first record here.
    public var first: Int
    public var records: [Data]
    public var note: String

    public init(first: Int, records: [[UInt8]], note: String) {
        self.first = first
        self.records = records.map { Data($0) }
        self.note = note
    }
}

/// What `nuage audit verify` found.
public struct AuditVerification: Codable, Hashable, Sendable {
    public var records = 0
    public var checkpoints = 0
    /// Records covered by the newest checkpoint that verifies.
    public var verifiedThrough = 0
    /// Copies at providers compared with the local log.
    public var copiesCompared = 0
    /// Every problem, one line each; empty: the log is intact.
    public var problems: [String] = []
}

/// Recomputes everything from the records' bytes: each leaf, each checkpoint's root and
/// signature, the records' own numbering and times, and (given) the copies at providers.
public enum AuditVerifier {
    public static func verify(records: [[UInt8]], notes: [String], key: AuditKey.Public, copies: [AuditCopy]? = nil) -> AuditVerification {
        var result = AuditVerification(records: records.count, checkpoints: notes.count)
        let decoder = JSONDecoder()
        var previousTime: String?
        var times: [String] = []
        for (position, bytes) in records.enumerated() {
            guard let record = try? decoder.decode(AuditRecord.self, from: Data(bytes)) else {
                result.problems.append("record #\(position) is not a valid record (altered)")
                times.append(previousTime ?? "")
                continue
            }
            if record.index != position {
                result.problems.append("the record at position #\(position) is record #\(record.index): records were removed, inserted or reordered")
            }
            if let previousTime, record.time < previousTime {
                result.problems.append("record #\(position) (\(record.time)) is dated before the one before it (\(previousTime))")
            }
            previousTime = record.time
            times.append(record.time)
        }
        let leaves = records.map(MerkleTree.leafHash)
        var roots: [Int: [UInt8]] = [:]
        func root(_ size: Int) -> [UInt8] {
            if let known = roots[size] { return known }
            let value = MerkleTree.root(leaves.prefix(size))
            roots[size] = value
            return value
        }
        var verified = 0, previous: Checkpoint?
        for note in notes {
            let checkpoint: Checkpoint
            do { checkpoint = try Checkpoint.open(note, key: key) } catch {
                result.problems.append("a checkpoint does not verify: \(error)")
                continue
            }
            let signed = Date(timeIntervalSince1970: Double(checkpoint.time))
            if let previous, checkpoint.size < previous.size {
                result.problems.append("the checkpoint signed at \(signed) covers \(checkpoint.size) records, fewer than the one before it (\(previous.size))")
            }
            if checkpoint.size > records.count {
                result.problems.append("the checkpoint signed at \(signed) covers \(checkpoint.size) records but the log holds \(records.count): "
                                       + "the last \(checkpoint.size - records.count) were removed")
            } else if root(checkpoint.size) != checkpoint.root {
                result.problems.append("records #\(verified)…#\(checkpoint.size - 1) do not match the checkpoint of size \(checkpoint.size) signed at \(signed): "
                                       + "one was modified, removed, reordered or inserted")
            } else {
                verified = max(verified, checkpoint.size)
                // Records that waited long for a checkpoint (the gateway checkpoints every minute).
                if let previous, checkpoint.size > previous.size, previous.size < times.count,
                   let first = try? AuditLog.timeFormat.parse(times[previous.size]), signed.timeIntervalSince(first) > 180 {
                    result.problems.append("records #\(previous.size)… waited \(Int(signed.timeIntervalSince(first))) s for a checkpoint (one is signed every minute): a gap in time")
                }
            }
            previous = checkpoint
        }
        result.verifiedThrough = verified
        for copy in copies ?? [] {
            result.copiesCompared += 1
            guard let checkpoint = try? Checkpoint.open(copy.note, key: key) else {
                result.problems.append("a copy at providers holds a checkpoint that does not verify")
                continue
            }
            let signed = Date(timeIntervalSince1970: Double(checkpoint.time))
            if checkpoint.size > records.count {
                result.problems.append("providers hold a checkpoint of \(checkpoint.size) records signed at \(signed); the local log holds \(records.count): "
                                       + "it was rolled back or truncated")
            } else if root(checkpoint.size) != checkpoint.root {
                result.problems.append("the local records #0…#\(checkpoint.size - 1) do not match the checkpoint of size \(checkpoint.size) kept at providers (signed at \(signed))")
            }
            for (offset, bytes) in copy.records.enumerated() where copy.first + offset < records.count {
                if Array(bytes) != records[copy.first + offset] {
                    result.problems.append("record #\(copy.first + offset) differs from its copy at providers")
                    break
                }
            }
        }
        return result
    }
}
