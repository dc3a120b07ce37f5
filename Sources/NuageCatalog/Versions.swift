import Foundation
import NuageCore

/// A bucket's versioning (PutBucketVersioning). A bucket that never had it has none.
public enum VersioningStatus: String, Codable, Hashable, Sendable {
    case enabled = "Enabled"
    case suspended = "Suspended"
}

extension BucketRecord {
    /// Why a bucket's settings may not go from `current` to `new`, or nil: versioning once set is
    /// never removed (only suspended); Object Lock is chosen at creation, kept for good, and keeps
    /// versioning Enabled.
    public static func settingsChangeRefusal(from current: BucketRecord, to new: BucketRecord) -> String? {
        if current.versioning != nil, new.versioning == nil {
            return "bucket \(new.name) has had versioning: it can be suspended, never removed"
        }
        if current.objectLock != nil, new.objectLock == nil || new.versioning != .enabled {
            return "bucket \(new.name) has Object Lock: it keeps it, and its versioning stays Enabled"
        }
        if current.objectLock == nil, new.objectLock != nil {
            return "Object Lock is chosen when bucket \(new.name) is created, not later"
        }
        return nil
    }
}

/// One entry of a version listing: a version or a delete marker, and whether it is its key's newest.
public struct ObjectVersion: Hashable, Sendable {
    public var record: ObjectRecord
    public var isLatest: Bool
    public init(record: ObjectRecord, isLatest: Bool) {
        self.record = record
        self.isLatest = isLatest
    }
}

extension ObjectVersion {
    /// A listing's current versions and older ones (each in listing order) merged by key, a
    /// key's current version first, at most `limit`.
    public static func merge(current: [ObjectRecord], older: [ObjectVersion], limit: Int) -> [ObjectVersion] {
        var merged: [ObjectVersion] = []
        var i = 0, j = 0
        while merged.count < limit, i < current.count || j < older.count {
            if j == older.count || (i < current.count && !Array(older[j].record.key.utf8).lexicographicallyPrecedes(Array(current[i].key.utf8))) {
                merged.append(ObjectVersion(record: current[i], isLatest: true))
                i += 1
            } else {
                merged.append(older[j])
                j += 1
            }
        }
        return merged
    }
}

/// Object Lock as a version's stored metadata holds it, under the names of the headers S3
/// returns it in; the catalog refuses to remove a version while it holds.
public enum ObjectLock {
    public static let modeKey = "x-amz-object-lock-mode"
    public static let retainUntilKey = "x-amz-object-lock-retain-until-date"
    public static let legalHoldKey = "x-amz-object-lock-legal-hold"

    /// Retention modes: GOVERNANCE can be bypassed by a caller allowed to, COMPLIANCE by no one.
    public enum Mode: String, Codable, Hashable, Sendable {
        case governance = "GOVERNANCE"
        case compliance = "COMPLIANCE"
    }

    /// Why `metadata`'s version cannot be removed at `now`, or nil when it can.
    public static func refusal(_ metadata: [String: String], now: Date, bypassGovernance: Bool) -> String? {
        if metadata[legalHoldKey] == "ON" { return "it is under a legal hold" }
        guard let mode = metadata[modeKey] else { return nil }
        // An unreadable date holds forever: a lock must never fail open.
        let until = metadata[retainUntilKey].flatMap(parseDate) ?? .distantFuture
        guard until > now else { return nil }
        switch Mode(rawValue: mode) {
        case .governance where bypassGovernance: return nil
        case .governance: return "it is under GOVERNANCE retention until \(formatDate(until))"
        default: return "it is under \(mode) retention until \(formatDate(until))"
        }
    }

    /// Why replacing a version's metadata `old` by `new` would weaken retention in force at
    /// `now`, or nil when it does not: COMPLIANCE can only be extended; GOVERNANCE too, unless
    /// the caller may bypass it.
    public static func weakening(_ old: [String: String], _ new: [String: String], now: Date, bypassGovernance: Bool) -> String? {
        guard let mode = old[modeKey] else { return nil }
        let until = old[retainUntilKey].flatMap(parseDate) ?? .distantFuture
        guard until > now else { return nil }
        let newUntil = new[retainUntilKey].flatMap(parseDate)
        let kept = new[modeKey] != nil && newUntil.map { $0 >= until } == true && (mode != Mode.compliance.rawValue || new[modeKey] == mode)
        if kept || (mode == Mode.governance.rawValue && bypassGovernance) { return nil }
        return "it is under \(mode) retention until \(formatDate(until)), which only a later date can replace"
            + (mode == Mode.governance.rawValue ? " (or a caller bypassing governance retention)" : "")
    }

    /// Throws `objectLocked` when `record` cannot be removed at `now`.
    public static func check(_ record: ObjectRecord, now: Date, bypassGovernance: Bool) throws {
        if let reason = refusal(record.metadata, now: now, bypassGovernance: bypassGovernance) {
            throw NuageError(.objectLocked, "version \(record.s3VersionID) of \(record.key) cannot be removed: \(reason)")
        }
    }

    /// ISO 8601 in UTC with milliseconds, as S3 writes retain-until dates.
    public static func formatDate(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// An ISO 8601 date and time, `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, or nil. The shape
    /// is checked first: Foundation's parser takes more (a year of nine digits, text after the
    /// time), and a date it took but cannot write back would be stored unreadable (found by fuzzing).
    public static func parseDate(_ text: String) -> Date? {
        guard text.utf8.count <= 40,
              text.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})/) != nil else {
            return nil
        }
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}

/// The versions of one key, as a replay of the journal rebuilds them: the rules every catalog
/// keeps (see ``Catalog``) on plain values.
struct KeyHistory: Sendable {
    /// The current version (never a delete marker).
    var current: ObjectRecord?
    /// Older versions and delete markers, oldest first; a delete marker newer than every
    /// version is last, and then there is no current version.
    var older: [ObjectRecord] = []

    var isEmpty: Bool { current == nil && older.isEmpty }

    /// Newest first.
    var all: [ObjectRecord] { (current.map { [$0] } ?? []) + older.reversed() }

    /// A put, a copy or a completed upload.
    mutating func put(_ record: ObjectRecord) {
        place(record)
        current = record
    }

    /// A DELETE without a version id: `marker` nil removes the current version.
    mutating func delete(marker: ObjectRecord?) {
        guard let marker else {
            current = nil
            promote()
            return
        }
        place(marker)
        older.append(marker)
    }

    /// Removes one version; the next newest becomes current unless it is a delete marker.
    mutating func deleteVersion(_ versionID: [UInt8]) {
        if current?.versionID == versionID { current = nil }
        older.removeAll { $0.versionID == versionID }
        promote()
    }

    /// Calls `body` on the version with this id (the part of a manifest, or the version itself).
    mutating func update(where matches: (ObjectRecord) -> Bool, _ body: (inout ObjectRecord) -> Void) {
        if var record = current, matches(record) {
            body(&record)
            current = record
        }
        for index in older.indices where matches(older[index]) { body(&older[index]) }
    }

    /// Makes room for a newer version: a versioned one keeps the current version as noncurrent,
    /// a null one replaces the null version.
    private mutating func place(_ newer: ObjectRecord) {
        if let current {
            if newer.versioned || current.versioned { older.append(current) }
            self.current = nil
        }
        if !newer.versioned { older.removeAll { !$0.versioned } }
    }

    private mutating func promote() {
        if current == nil, let newest = older.last, !newest.deleteMarker {
            current = older.removeLast()
        }
    }
}
