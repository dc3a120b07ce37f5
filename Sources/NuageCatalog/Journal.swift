import Foundation
import NuageCore

/// One change of the catalog's state, as the journal keeps it: enough to replay the change
/// into an empty catalog, in order, after the gateway's disk is lost (`nuage recover`).
public enum CatalogChange: Codable, Hashable, Sendable {
    case bucketCreated(BucketRecord)
    case bucketDeleted(String)
    /// A put, a copy or a completed multipart upload: the key's version is now this one.
    case objectPut(ObjectRecord)
    case objectDeleted(bucket: String, key: String)
    /// A repair or a drain moved shards of the part with this manifest's version id.
    case manifestUpdated(bucket: String, key: String, manifest: Manifest)
    case accessKeyCreated(AccessKeyRecord)
    case accessKeyDeleted(String)
    /// A bucket's settings changed (default encryption).
    case bucketUpdated(BucketRecord)
    /// A KMS key was created or changed (state, rewrapped material, destroyed).
    case kmsKeyChanged(KMSKeyRecord)
}

/// A change with its place in the catalog's history. Sequence numbers are assigned in the
/// transaction that makes the change, so their order is the order of the changes.
public struct JournalEntry: Codable, Hashable, Sendable {
    public var seq: Int64
    public var change: CatalogChange
    public init(seq: Int64, change: CatalogChange) {
        self.seq = seq
        self.change = change
    }
}

/// Where the journal stands: changes up to `head` exist; those up to `durable` are at providers
/// (in journal segments or a snapshot).
public struct JournalState: Hashable, Sendable {
    public var head: Int64
    public var durable: Int64
    /// The sequence number of the newest snapshot at providers (0: none yet).
    public var snapshot: Int64
    public init(head: Int64, durable: Int64, snapshot: Int64) {
        self.head = head
        self.durable = durable
        self.snapshot = snapshot
    }
}

/// A blob at providers that holds part of the journal: a segment (changes `first...last`) or a
/// snapshot (the whole state as of `last`; `first` is 0).
public struct JournalBlob: Hashable, Sendable, Codable {
    /// `audit`: a copy of the audit log (kept until removed by hand; gc leaves it alone).
    public enum Kind: String, Codable, Sendable { case segment, snapshot, audit }
    public var kind: Kind
    public var first: Int64
    public var last: Int64
    /// The same bytes on several providers (in distinct jurisdictions).
    public var copies: [BlobRef]
    public init(kind: Kind, first: Int64, last: Int64, copies: [BlobRef]) {
        self.kind = kind
        self.first = first
        self.last = last
        self.copies = copies
    }
}

/// The catalog's whole recoverable state as of `seq`: buckets, current object versions, access
/// keys and KMS keys (multipart uploads in progress, repair notes, garbage and scrub times are not
/// kept: a recovered gateway finds those again or does without them).
public struct CatalogSnapshot: Codable, Hashable, Sendable {
    public var seq: Int64
    public var buckets: [BucketRecord]
    public var objects: [ObjectRecord]
    public var accessKeys: [AccessKeyRecord]
    public var kmsKeys: [KMSKeyRecord]
    public init(seq: Int64, buckets: [BucketRecord], objects: [ObjectRecord], accessKeys: [AccessKeyRecord],
                kmsKeys: [KMSKeyRecord] = []) {
        self.seq = seq
        self.buckets = buckets
        self.objects = objects
        self.accessKeys = accessKeys
        self.kmsKeys = kmsKeys
    }

    private enum CodingKeys: String, CodingKey { case seq, buckets, objects, accessKeys, kmsKeys }

    /// Snapshots written before KMS keys existed have none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        seq = try container.decode(Int64.self, forKey: .seq)
        buckets = try container.decode([BucketRecord].self, forKey: .buckets)
        objects = try container.decode([ObjectRecord].self, forKey: .objects)
        accessKeys = try container.decode([AccessKeyRecord].self, forKey: .accessKeys)
        kmsKeys = try container.decodeIfPresent([KMSKeyRecord].self, forKey: .kmsKeys) ?? []
    }

    /// The state after `entries` (in sequence order, each after `seq`), as a replay would leave it.
    public func applying(_ entries: [JournalEntry]) -> CatalogSnapshot {
        var buckets = Dictionary(uniqueKeysWithValues: self.buckets.map { ($0.name, $0) })
        var objects: [String: [String: ObjectRecord]] = [:]
        for object in self.objects { objects[object.bucket, default: [:]][object.key] = object }
        var keys = Dictionary(uniqueKeysWithValues: accessKeys.map { ($0.id, $0) })
        var kmsKeys = Dictionary(uniqueKeysWithValues: self.kmsKeys.map { ($0.name, $0) })
        var seq = self.seq
        for entry in entries where entry.seq > seq {
            seq = entry.seq
            switch entry.change {
            case .bucketCreated(let bucket): buckets[bucket.name] = bucket
            case .bucketDeleted(let name):
                buckets[name] = nil
                objects[name] = nil
            case .objectPut(let object): objects[object.bucket, default: [:]][object.key] = object
            case .objectDeleted(let bucket, let key): objects[bucket]?[key] = nil
            case .manifestUpdated(let bucket, let key, let manifest):
                if var object = objects[bucket]?[key], let index = object.parts.firstIndex(where: { $0.versionID == manifest.versionID }) {
                    object.parts[index] = manifest
                    objects[bucket]?[key] = object
                }
            case .accessKeyCreated(let key): keys[key.id] = key
            case .accessKeyDeleted(let id): keys[id] = nil
            case .bucketUpdated(let bucket): if buckets[bucket.name] != nil { buckets[bucket.name] = bucket }
            case .kmsKeyChanged(let key): kmsKeys[key.name] = key
            }
        }
        return CatalogSnapshot(seq: seq, buckets: buckets.values.sorted { $0.name < $1.name },
                               objects: objects.values.flatMap(\.values).sorted { ($0.bucket, $0.key) < ($1.bucket, $1.key) },
                               accessKeys: keys.values.sorted { $0.id < $1.id },
                               kmsKeys: kmsKeys.values.sorted { $0.name < $1.name })
    }
}
