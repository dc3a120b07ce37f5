import Foundation
import NuageCatalog
import NuageCore

/// Which version of a key a request names.
public enum VersionSelector: Hashable, Sendable {
    /// No version id: the current version (or, for a read, the newest delete marker).
    case current
    /// `versionId=null`: the version written while the bucket was unversioned or suspended.
    case null
    case id([UInt8])

    /// The selector an S3 `versionId` names (nil: none given).
    /// - Throws: `invalidArgument` for an id Nuage never gives out.
    public init(s3 text: String?) throws {
        switch text {
        case nil: self = .current
        case "null"?: self = .null
        case let text?:
            guard text.count == 32, let bytes = [UInt8](hex: text) else {
                throw NuageError(.invalidArgument, "Invalid version id specified")
            }
            self = .id(bytes)
        }
    }

    /// As S3 spells it; nil for the current version.
    public var s3Text: String? {
        switch self {
        case .current: nil
        case .null: "null"
        case .id(let bytes): bytes.hex
        }
    }
}

/// One key of a DELETE or DeleteObjects request.
public struct DeleteRequest: Sendable {
    public var key: String
    public var version: VersionSelector
    /// Only while the current version is this one (lifecycle); for `.current` only.
    public var ifVersion: [UInt8]?
    public init(key: String, version: VersionSelector = .current, ifVersion: [UInt8]? = nil) {
        self.key = key
        self.version = version
        self.ifVersion = ifVersion
    }
}

/// What a delete did, as S3 reports it.
public struct DeleteOutcome: Hashable, Sendable {
    /// The version removed, or the delete marker made (nil in an unversioned bucket).
    public var versionID: String?
    /// A delete marker was made, or the version removed was one.
    public var deleteMarker: Bool
    public init(versionID: String?, deleteMarker: Bool) {
        self.versionID = versionID
        self.deleteMarker = deleteMarker
    }
}

extension Engine {
    /// The version `version` names, delete markers included; for `.current`, the current
    /// version, else the key's newest delete marker; nil when there is none.
    /// - Throws: `noSuchBucket`.
    public func lookup(bucket: String, key: String, version: VersionSelector = .current) async throws -> ObjectRecord? {
        let found: ObjectRecord?
        switch version {
        case .current:
            if let current = try await catalog.object(bucket: bucket, key: key) { return current }
            found = try await catalog.listVersions(bucket: bucket, prefix: key, after: nil, limit: 1).first
                .map(\.record).flatMap { $0.key == key && $0.deleteMarker ? $0 : nil }
        case .null: found = try await catalog.version(bucket: bucket, key: key, versionID: nil)
        case .id(let bytes):
            // A null version's bytes are not an id clients were given.
            found = try await catalog.version(bucket: bucket, key: key, versionID: bytes).flatMap { $0.versioned ? $0 : nil }
        }
        if found == nil, try await catalog.bucket(bucket) == nil { throw NuageError(.noSuchBucket, "bucket \(bucket) does not exist") }
        return found
    }

    /// Deletes keys or versions (S3 DELETE and DeleteObjects) with one journal write for all.
    ///
    /// Without a version id, an unversioned bucket's key goes; a versioned bucket's gets a delete
    /// marker (null while versioning is Suspended). With one, that version goes for good, unless
    /// Object Lock holds it (`objectLocked`). A missing key or version counts as deleted, as in S3.
    /// - Parameter bypassGovernance: GOVERNANCE retention does not hold (the caller may bypass it).
    /// - Returns: each key's outcome, in order, or why it was not deleted.
    /// - Throws: `noSuchBucket`; when the deletions cannot be journaled (they took effect).
    public func delete(bucket: String, _ requests: [DeleteRequest], bypassGovernance: Bool = false) async throws -> [Result<DeleteOutcome, any Error>] {
        guard let record = try await catalog.bucket(bucket) else { throw NuageError(.noSuchBucket, "bucket \(bucket) does not exist") }
        var outcomes: [Result<DeleteOutcome, any Error>] = [], removed: [BlobRef] = [], changed = false
        for request in requests {
            do {
                switch request.version {
                case .current:
                    let marker = record.versioning.map { ObjectRecord.deleteMarker(bucket: bucket, key: request.key, versioned: $0 == .enabled, modified: Date()) }
                    let replaced = try await catalog.deleteObject(bucket: bucket, key: request.key, ifVersion: request.ifVersion, marker: marker)
                    removed += replaced?.blobs ?? []
                    changed = changed || replaced != nil || marker != nil
                    outcomes.append(.success(DeleteOutcome(versionID: marker?.s3VersionID, deleteMarker: marker != nil)))
                case .null, .id:
                    var deleted: ObjectRecord?
                    if let target = try await lookup(bucket: bucket, key: request.key, version: request.version) {
                        deleted = try await catalog.deleteVersion(bucket: bucket, key: request.key, versionID: target.versionID,
                                                                   bypassGovernance: bypassGovernance, now: Date())
                    }
                    removed += deleted?.blobs ?? []
                    changed = changed || deleted != nil
                    outcomes.append(.success(DeleteOutcome(versionID: request.version.s3Text, deleteMarker: deleted?.deleteMarker ?? false)))
                }
            } catch {
                outcomes.append(.failure(error))
            }
        }
        if changed { try await journalDurable() }
        if !removed.isEmpty { await collectReplaced(removed) }
        return outcomes
    }

    /// The stored version `record` names (current or not), as it is now; nil once it is gone.
    func storedVersion(of record: ObjectRecord) async throws -> ObjectRecord? {
        try await catalog.version(bucket: record.bucket, key: record.key, versionID: record.versionID)
    }
}
