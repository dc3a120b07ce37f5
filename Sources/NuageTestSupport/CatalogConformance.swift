import Foundation
import NuageCatalog
import NuageCore
import Testing

/// The catalog contract (see ``Catalog``) as checks that every implementation runs, each on a
/// fresh, empty catalog.
public enum CatalogConformance {
    public typealias Check = @Sendable (any Catalog) async throws -> Void

    public static let checks: [(name: String, run: Check)] = [
        ("buckets: create, duplicate, list, delete", buckets),
        ("delete a non-empty bucket is refused", bucketNotEmpty),
        ("commit makes an object visible and retires the intent", commitVisible),
        ("commit garbage-lists the intent's blobs the object leaves out", commitGarbageListsShardsLeftOut),
        ("overwrite returns the old version and moves its blobs to garbage", overwrite),
        ("conditional commit", conditionalCommit),
        ("commit into a missing bucket fails", commitMissingBucket),
        ("commit of an abandoned intent fails", commitAbandonedIntent),
        ("abandoned intent moves its blobs to garbage", abandon),
        ("delete moves blobs to garbage", deleteObject),
        ("listing: byte order, prefix, after, limit", listing),
        ("keys with unicode and high bytes sort by UTF-8", unicodeOrder),
        ("referenced blobs cover objects, intents and garbage", referenced),
        ("update manifest only of the current version", updateManifest),
        ("repair notes", repairs),
        ("access keys: create, find, list, delete", accessKeys),
        ("concurrent commits to one key leave one winner", concurrentCommits),
        ("uploads: create, find, list in key then id order", uploads),
        ("parts: commit, replace, list; a gone upload refuses parts", parts),
        ("complete: object of chosen parts, unused parts and replaced version to garbage", completeUpload),
        ("complete refuses a part replaced meanwhile", completeReplacedPart),
        ("abort and bucket deletion move parts to garbage", abortUpload),
        ("referenced blobs cover uploaded parts", referencedParts),
        ("scrub times: light, deep, only of the current version", scrubTimes),
        ("journal: every change numbered in order; garbage waits for it; segments, snapshots, restore", journal),
        ("restore: an empty catalog takes a recovered state; numbering goes on", restore),
        ("KMS keys: create, duplicate names, update, journaled, in snapshots and restores", kmsKeys),
        ("bucket settings: update keeps the creation date, is journaled and snapshotted", bucketSettings),
        ("conditional delete only of the version named", conditionalDelete),
        ("metadata replaced in place, only of the version named, journaled", replaceMetadata),
        ("packs: garbage once the batch is over and no piece is live", packs),
        ("restore counts the pieces of packs that versions keep", restorePacks),
    ] + versionChecks

    public static var names: [String] { checks.map(\.name) }

    public static func run(_ name: String, on catalog: any Catalog) async throws {
        guard let check = checks.first(where: { $0.name == name }) else {
            Issue.record("no conformance check named \(name)")
            return
        }
        try await check.run(catalog)
    }

    /// A record with `blobs` distinct blob names on providers p0, p1, ….
    public static func record(bucket: String = "b", key: String, tag: String = "v", blobs: Int = 3, size: Int64 = 10) -> ObjectRecord {
        let version = Array("\(tag)-\(key)".utf8.prefix(16))
        let manifest = Manifest(format: 1, versionID: version, size: size, segmentSize: 1 << 20, dataShards: 2,
                                parityShards: blobs - 2, keyID: 7, wrappedKey: [1, 2, 3],
                                shards: (0..<blobs).map { BlobRef(provider: "p\($0)", blob: "\(tag)\($0)x\(abs(key.hashValue % 100000))") })
        return ObjectRecord(bucket: bucket, key: key, size: size, etag: "etag-\(tag)",
                            modified: Date(timeIntervalSince1970: 1_700_000_000), metadata: ["content-type": "text/plain", "x-amz-meta-a": "b"],
                            manifest: manifest)
    }

    /// Records an intent for `record`'s blobs and commits it.
    @discardableResult
    public static func put(_ catalog: any Catalog, _ record: ObjectRecord, expected: [UInt8]? = nil) async throws -> ObjectRecord? {
        let intent = WriteIntent(id: record.versionID.hex, created: Date(), blobs: record.blobs)
        try await catalog.recordIntent(intent)
        return try await catalog.commit(record, intent: intent.id, expectedVersion: expected)
    }

    static func buckets(_ c: any Catalog) async throws {
        try await c.createBucket("beta")
        try await c.createBucket("alpha")
        await expectCode(.bucketAlreadyExists) { try await c.createBucket("alpha") }
        #expect(try await c.listBuckets().map(\.name) == ["alpha", "beta"])
        #expect(try await c.bucket("alpha")?.name == "alpha")
        #expect(try await c.bucket("gamma") == nil)
        try await c.deleteBucket("alpha")
        await expectCode(.noSuchBucket) { try await c.deleteBucket("alpha") }
        #expect(try await c.listBuckets().map(\.name) == ["beta"])
    }

    static func bucketNotEmpty(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        try await put(c, record(key: "k"))
        await expectCode(.bucketNotEmpty) { try await c.deleteBucket("b") }
        try await c.deleteObject(bucket: "b", key: "k")
        try await c.deleteBucket("b")
    }

    static func commitVisible(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let r = record(key: "dir/file.txt")
        let intent = WriteIntent(id: "i1", created: Date(), blobs: r.blobs)
        try await c.recordIntent(intent)
        #expect(try await c.object(bucket: "b", key: "dir/file.txt") == nil, "nothing visible before commit")
        #expect(try await c.intents(before: Date().addingTimeInterval(60)).map(\.id) == ["i1"])
        #expect(try await c.commit(r, intent: "i1", expectedVersion: nil) == nil)
        #expect(try await c.object(bucket: "b", key: "dir/file.txt") == r)
        #expect(try await c.intents(before: Date().addingTimeInterval(60)).isEmpty)
        #expect(try await c.garbage(limit: 100).isEmpty)
    }

    static func commitGarbageListsShardsLeftOut(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        var r = record(key: "k")
        let lost = r.parts[0].shards[1]!
        try await c.recordIntent(WriteIntent(id: "i", created: Date(), blobs: r.blobs))
        r.parts[0].shards[1] = nil  // that shard did not land
        try await c.commit(r, intent: "i", expectedVersion: nil)
        #expect(try await c.garbage(limit: 100) == [lost])
        #expect(try await c.garbage(limit: 100, readableBefore: .distantPast, journaledThrough: .max) == [lost], "no read can need a shard that never landed")
        #expect(try await c.object(bucket: "b", key: "k")?.blobs == r.blobs)
    }

    static func overwrite(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let first = record(key: "k", tag: "one"), second = record(key: "k", tag: "two")
        try await put(c, first)
        #expect(try await put(c, second) == first)
        #expect(try await c.object(bucket: "b", key: "k") == second)
        #expect(Set(try await c.garbage(limit: 100)) == Set(first.blobs))
        // A read that started before the overwrite may still need them: not due before the delay.
        #expect(try await c.garbage(limit: 100, readableBefore: Date().addingTimeInterval(-60), journaledThrough: .max).isEmpty)
        #expect(Set(try await c.garbage(limit: 100, readableBefore: Date().addingTimeInterval(60), journaledThrough: .max)) == Set(first.blobs))
        try await c.removeGarbage(Array(first.blobs.prefix(2)))
        #expect(try await c.garbage(limit: 100) == Array(first.blobs.suffix(1)))
    }

    static func conditionalCommit(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let first = record(key: "k", tag: "one")
        try await put(c, first, expected: [])
        await expectCode(.preconditionFailed) { try await put(c, record(key: "k", tag: "two"), expected: []) }
        await expectCode(.preconditionFailed) { try await put(c, record(key: "k", tag: "three"), expected: [9, 9]) }
        try await put(c, record(key: "k", tag: "four"), expected: first.versionID)
        #expect(try await c.object(bucket: "b", key: "k")?.etag == "etag-four")
    }

    static func commitMissingBucket(_ c: any Catalog) async throws {
        await expectCode(.noSuchBucket) { try await put(c, record(bucket: "nope", key: "k")) }
    }

    static func commitAbandonedIntent(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let r = record(key: "slow")
        try await c.recordIntent(WriteIntent(id: "slow", created: Date(), blobs: r.blobs))
        try await c.abandonIntent("slow")
        await expectCode(.preconditionFailed) { try await c.commit(r, intent: "slow", expectedVersion: nil) }
        #expect(try await c.object(bucket: "b", key: "slow") == nil)
    }

    static func abandon(_ c: any Catalog) async throws {
        let r = record(key: "k")
        try await c.recordIntent(WriteIntent(id: "lost", created: Date(timeIntervalSince1970: 1000), blobs: r.blobs))
        #expect(try await c.intents(before: Date(timeIntervalSince1970: 999)).isEmpty)
        #expect(try await c.intents(before: Date(timeIntervalSince1970: 1001)).map(\.id) == ["lost"])
        try await c.abandonIntent("lost")
        try await c.abandonIntent("lost")
        #expect(Set(try await c.garbage(limit: 100)) == Set(r.blobs))
        #expect(try await c.intents(before: Date()).isEmpty)
    }

    /// A record whose shards are pieces of `packs` (one per provider), at `offset`.
    static func packed(key: String, tag: String, packs: [BlobRef], offset: Int64) -> ObjectRecord {
        var r = record(key: key, tag: tag, blobs: packs.count)
        r.parts[0].shards = packs.map { BlobRef(provider: $0.provider, pack: $0.blob, offset: offset, length: 100) }
        return r
    }

    static func packs(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let packs = (0..<3).map { BlobRef(provider: "p\($0)", blob: "pack\($0)") }
        let batch = WriteIntent(id: WriteIntent.packPrefix + "1", created: Date(), blobs: packs)
        try await c.recordIntent(batch)
        let a = packed(key: "a", tag: "A", packs: packs, offset: 0), b = packed(key: "b", tag: "B", packs: packs, offset: 100)
        #expect(try await c.commit(a, intent: batch.id, expectedVersion: nil) == nil)
        #expect(try await c.commit(b, intent: batch.id, expectedVersion: nil) == nil)
        #expect(try await c.intents(before: .distantFuture).map(\.id) == [batch.id], "the batch's intent stays for its other puts")
        #expect(try await c.referencedBlobs(provider: "p1").contains("pack1"))
        // A member that never commits leaves nothing; the batch ends.
        try await c.abandonIntent(batch.id)
        #expect(try await c.intents(before: .distantFuture).isEmpty)
        #expect(try await c.garbage(limit: 100).isEmpty, "live pieces keep their packs")
        #expect(try await c.deleteObject(bucket: "b", key: "a") == a)
        #expect(try await c.garbage(limit: 100).isEmpty, "one piece of each pack is still live")
        #expect(try await c.referencedBlobs(provider: "p2").contains("pack2"))
        #expect(try await c.deleteObject(bucket: "b", key: "b") == b)
        #expect(Set(try await c.garbage(limit: 100)) == Set(packs), "the last piece gone, the packs go")
        #expect(Set(try await c.garbageAmong(packs + [BlobRef(provider: "p0", blob: "other")])) == Set(packs))
        try await c.removeGarbage(packs)

        // A batch none of whose puts committed: its packs go when it ends, not before.
        let lost = (0..<3).map { BlobRef(provider: "p\($0)", blob: "lost\($0)") }
        try await c.recordIntent(WriteIntent(id: WriteIntent.packPrefix + "2", created: Date(), blobs: lost))
        #expect(try await c.garbage(limit: 100).isEmpty)
        try await c.abandonIntent(WriteIntent.packPrefix + "2")
        #expect(Set(try await c.garbage(limit: 100)) == Set(lost))
        try await c.removeGarbage(lost)

        // A batch whose only put was deleted before the batch ended: the packs wait for its end.
        let early = (0..<3).map { BlobRef(provider: "p\($0)", blob: "early\($0)") }
        try await c.recordIntent(WriteIntent(id: WriteIntent.packPrefix + "3", created: Date(), blobs: early))
        let e = packed(key: "e", tag: "E", packs: early, offset: 0)
        _ = try await c.commit(e, intent: WriteIntent.packPrefix + "3", expectedVersion: nil)
        _ = try await c.deleteObject(bucket: "b", key: "e")
        #expect(try await c.garbage(limit: 100).isEmpty, "another put of the batch may still commit into these packs")
        let f = packed(key: "f", tag: "F", packs: early, offset: 100)
        _ = try await c.commit(f, intent: WriteIntent.packPrefix + "3", expectedVersion: nil)
        try await c.abandonIntent(WriteIntent.packPrefix + "3")
        #expect(try await c.garbage(limit: 100).isEmpty, "f keeps them")
        _ = try await c.deleteObject(bucket: "b", key: "f")
        #expect(Set(try await c.garbage(limit: 100)) == Set(early))
        // Committing under a batch that ended is refused (gc may have deleted its packs).
        await expectCode(.preconditionFailed) {
            _ = try await c.commit(packed(key: "g", tag: "G", packs: early, offset: 200), intent: WriteIntent.packPrefix + "3", expectedVersion: nil)
        }
    }

    /// A restored catalog counts the pieces its versions keep (its batches are over).
    static func restorePacks(_ c: any Catalog) async throws {
        let packs = (0..<3).map { BlobRef(provider: "p\($0)", blob: "pack\($0)") }
        let a = packed(key: "a", tag: "A", packs: packs, offset: 0), b = packed(key: "b", tag: "B", packs: packs, offset: 100)
        let state = CatalogSnapshot(seq: 7, buckets: [BucketRecord(name: "b", created: Date(timeIntervalSince1970: 1_800_000_000))],
                                    objects: [a, b], accessKeys: [])
        try await c.restore(state, blobs: [])
        _ = try await c.deleteObject(bucket: "b", key: "a")
        #expect(try await c.garbage(limit: 100).isEmpty, "b still keeps a piece of each pack")
        _ = try await c.deleteObject(bucket: "b", key: "b")
        #expect(Set(try await c.garbage(limit: 100)) == Set(packs))
    }

    static func deleteObject(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let r = record(key: "k")
        try await put(c, r)
        #expect(try await c.deleteObject(bucket: "b", key: "k") == r)
        #expect(try await c.deleteObject(bucket: "b", key: "k") == nil)
        #expect(try await c.object(bucket: "b", key: "k") == nil)
        #expect(Set(try await c.garbage(limit: 100)) == Set(r.blobs))
        await expectCode(.noSuchBucket) { try await c.deleteObject(bucket: "zz", key: "k") }
    }

    static func listing(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        try await c.createBucket("other")
        let keys = ["a", "a/b", "a/c", "a0", "a/", "b", "ab", "a/b/c"]
        for key in keys { try await put(c, record(key: key, blobs: 2)) }
        try await put(c, record(bucket: "other", key: "a/x", blobs: 2))
        let sorted = keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(try await c.listObjects(bucket: "b", prefix: "", after: nil, limit: 100).map(\.key) == sorted)
        #expect(try await c.listObjects(bucket: "b", prefix: "a/", after: nil, limit: 100).map(\.key) == ["a/", "a/b", "a/b/c", "a/c"])
        #expect(try await c.listObjects(bucket: "b", prefix: "a/", after: "a/b", limit: 2).map(\.key) == ["a/b/c", "a/c"])
        #expect(try await c.listObjects(bucket: "b", prefix: "", after: "a0", limit: 1).map(\.key) == ["ab"])
        #expect(try await c.listObjects(bucket: "b", prefix: "zz", after: nil, limit: 10).isEmpty)
        await expectCode(.noSuchBucket) { _ = try await c.listObjects(bucket: "none", prefix: "", after: nil, limit: 1) }
    }

    static func unicodeOrder(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let keys = ["z", "é", "日本", "ａ", "\u{10FFFF}", "A", "a\u{7F}", "😀"]
        for key in keys { try await put(c, record(key: key, blobs: 2)) }
        let listed = try await c.listObjects(bucket: "b", prefix: "", after: nil, limit: 100).map(\.key)
        #expect(listed == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(try await c.listObjects(bucket: "b", prefix: "日", after: nil, limit: 10).map(\.key) == ["日本"])
    }

    static func referenced(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let live = record(key: "live", tag: "l"), replaced = record(key: "live", tag: "r")
        try await put(c, replaced)
        try await put(c, live)
        let pending = record(key: "pending", tag: "p")
        try await c.recordIntent(WriteIntent(id: "p", created: Date(), blobs: pending.blobs))
        let onP0 = try await c.referencedBlobs(provider: "p0")
        let expected = [live, replaced, pending].map { $0.parts[0].shards[0]!.blob }
        #expect(onP0 == Set(expected))
        #expect(try await c.referencedBlobs(provider: "elsewhere").isEmpty)
    }

    static func updateManifest(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let r = record(key: "k")
        try await put(c, r)
        var changed = r.parts[0]
        let old = changed.shards[0]!
        changed.shards[0] = BlobRef(provider: "p9", blob: "moved")
        try await c.recordIntent(WriteIntent(id: "repair", created: Date(), blobs: [changed.shards[0]!]))
        #expect(try await !c.updateManifest(bucket: "b", key: "k", versionID: [1, 2, 3], manifest: r.parts[0], retiringIntent: "repair"))
        #expect(try await c.intents(before: .distantFuture).map(\.id) == ["repair"], "a refused update keeps the intent")
        #expect(try await c.updateManifest(bucket: "b", key: "k", versionID: r.versionID, manifest: changed, retiringIntent: "repair"))
        #expect(try await c.object(bucket: "b", key: "k")?.parts == [changed])
        #expect(try await c.intents(before: .distantFuture).isEmpty, "the repair's intent is retired with the update")
        #expect(try await c.garbage(limit: 10) == [old], "the replaced blob is garbage")
        #expect(try await c.referencedBlobs(provider: "p9") == ["moved"])
    }

    static func journal(_ c: any Catalog) async throws {
        #expect(try await c.journalState() == JournalState(head: 0, durable: 0, snapshot: 0))
        try await c.createBucket("b")
        let first = record(key: "k", tag: "one"), second = record(key: "k", tag: "two")
        try await put(c, first)
        try await put(c, second)
        _ = try await c.deleteObject(bucket: "b", key: "k")
        _ = try await c.deleteObject(bucket: "b", key: "never-there")  // no change, no entry
        try await put(c, record(key: "other"))
        let key = AccessKeyRecord(id: "K1", name: "n", sealedSecret: [9], readOnly: true, buckets: ["b"], created: Date(timeIntervalSince1970: 1_800_000_000))
        try await c.createAccessKey(key)
        let entries = try await c.journalEntries(after: 0, limit: 100)
        #expect(entries.map(\.seq) == Array(1...6))
        #expect(entries.map(\.change) == [.bucketCreated(try #require(try await c.bucket("b"))), .objectPut(first), .objectPut(second),
                                           .objectDeleted(bucket: "b", key: "k"), .objectPut(record(key: "other")), .accessKeyCreated(key)])
        // The blobs the overwrite and the delete listed wait until their changes are journaled.
        #expect(try await c.garbage(limit: 100, readableBefore: .distantFuture, journaledThrough: 2).isEmpty)
        #expect(Set(try await c.garbage(limit: 100, readableBefore: .distantFuture, journaledThrough: 3)) == Set(first.blobs))
        #expect(Set(try await c.garbage(limit: 100, readableBefore: .distantFuture, journaledThrough: 4)) == Set(first.blobs + second.blobs))
        // A segment makes its entries durable and keeps its blobs referenced.
        let segment = JournalBlob(kind: .segment, first: 1, last: 4, copies: [BlobRef(provider: "p0", blob: "j-1"), BlobRef(provider: "p1", blob: "j-1")])
        try await c.noteJournalSegment(segment)
        #expect(try await c.journalState() == JournalState(head: 6, durable: 4, snapshot: 0))
        #expect(try await c.journalEntries(after: 4, limit: 100).map(\.seq) == [5, 6])
        #expect(try await c.referencedBlobs(provider: "p1").contains("j-1"))
        // A snapshot: the state as of the head; what it covers goes to the garbage list.
        let state = try await c.snapshot()
        #expect(state.seq == 6 && state.buckets.map(\.name) == ["b"] && state.objects.map(\.key) == ["other"] && state.accessKeys == [key])
        let snapshot = JournalBlob(kind: .snapshot, first: 0, last: 6, copies: [BlobRef(provider: "p2", blob: "s-1")])
        try await c.noteJournalSnapshot(snapshot)
        #expect(try await c.journalBlobs() == [snapshot])
        #expect(try await c.journalState() == JournalState(head: 6, durable: 6, snapshot: 6))
        #expect(try await c.journalEntries(after: 0, limit: 100).isEmpty)
        #expect(Set(try await c.garbage(limit: 100)).isSuperset(of: segment.copies))
        // Replaying the entries onto an empty state gives the snapshot.
        #expect(CatalogSnapshot(seq: 0, buckets: [], objects: [], accessKeys: []).applying(entries) == state)
        // Restore fills only an empty catalog.
        await expectCode(.invalidArgument) { try await c.restore(state, blobs: []) }
    }

    /// Restore into an empty catalog: the same state, and numbering goes on after it.
    static func restore(_ c: any Catalog) async throws {
        let object = record(key: "k")
        let kms = KMSKeyRecord(name: "k", id: [7], state: .disabled, masterKeyID: 1, wrappedKey: [1], created: Date(timeIntervalSince1970: 1_800_000_000))
        let state = CatalogSnapshot(seq: 41, buckets: [BucketRecord(name: "b", created: Date(timeIntervalSince1970: 1_800_000_000),
                                                                    owner: "alice", encryption: BucketEncryption(kmsKey: "k"),
                                                                    tagging: "a=1", cors: "c", lifecycle: "l", policy: "p")],
                                    objects: [object], accessKeys: [], kmsKeys: [kms])
        let blob = JournalBlob(kind: .snapshot, first: 0, last: 41, copies: [BlobRef(provider: "p0", blob: "s-9")])
        try await c.restore(state, blobs: [blob])
        #expect(try await c.snapshot() == state)
        #expect(try await c.journalState() == JournalState(head: 41, durable: 41, snapshot: 41))
        #expect(try await c.journalBlobs() == [blob])
        try await put(c, record(key: "k2"))
        #expect(try await c.journalEntries(after: 41, limit: 10).map(\.seq) == [42])
    }

    static func scrubTimes(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let first = record(key: "k", tag: "one"), other = record(key: "other", tag: "one")
        try await put(c, first)
        try await put(c, other)
        #expect(try await c.lastScrub(bucket: "b", key: "k") == nil)
        let light = Date(timeIntervalSince1970: 1_800_000_000), deep = light.addingTimeInterval(60), later = deep.addingTimeInterval(60)
        try await c.noteScrubbed([first, other], deep: false, at: light)
        #expect(try await c.lastScrub(bucket: "b", key: "k") == ScrubTimes(light: light, deep: nil))
        try await c.noteScrubbed([first], deep: true, at: deep)
        #expect(try await c.lastScrub(bucket: "b", key: "k") == ScrubTimes(light: deep, deep: deep))
        try await c.noteScrubbed([first], deep: false, at: later)
        #expect(try await c.lastScrub(bucket: "b", key: "k") == ScrubTimes(light: later, deep: deep))
        // An overwrite starts afresh, and a note for the replaced version is ignored.
        try await put(c, record(key: "k", tag: "two"), expected: first.versionID)
        #expect(try await c.lastScrub(bucket: "b", key: "k") == nil)
        try await c.noteScrubbed([first], deep: true, at: later)
        #expect(try await c.lastScrub(bucket: "b", key: "k") == nil)
        #expect(try await c.lastScrub(bucket: "b", key: "other") == ScrubTimes(light: light, deep: nil))
        _ = try await c.deleteObject(bucket: "b", key: "other")
        #expect(try await c.lastScrub(bucket: "b", key: "other") == nil)
        #expect(try await c.lastScrub(bucket: "b", key: "missing") == nil)
    }

    static func repairs(_ c: any Catalog) async throws {
        try await c.noteRepair(bucket: "b", key: "k/é", versionID: [1, 2], shards: [0, 3], reason: "missing")
        try await c.noteRepair(bucket: "b", key: "k/é", versionID: [1, 2], shards: [3], reason: "corrupt")
        try await c.noteRepair(bucket: "b", key: "other", versionID: [9], shards: [1], reason: "missing")
        let notes = try await c.pendingRepairs(limit: 10)
        #expect(notes.count == 3)
        #expect(notes.first { $0.shard == 3 }?.reason == "corrupt")
        #expect(notes.first { $0.versionID == [1, 2] }?.key == "k/é")
        #expect(try await c.pendingRepairs(limit: 1).count == 1)
        try await c.clearRepairs(versionID: [1, 2], shards: [0, 3])
        #expect(try await c.pendingRepairs(limit: 10).map(\.versionID) == [[9]])
    }

    static func accessKeys(_ c: any Catalog) async throws {
        let key = AccessKeyRecord(id: "NUAGEKEY1", name: "backup", owner: "alice", sealedSecret: [1, 2, 3], readOnly: true,
                                  buckets: ["a", "b"], created: Date(timeIntervalSince1970: 1_700_000_000))
        try await c.createAccessKey(key)
        await expectCode(.invalidArgument) { try await c.createAccessKey(key) }
        #expect(try await c.accessKey(id: "NUAGEKEY1") == key)
        #expect(try await c.accessKey(id: "OTHER") == nil)
        // Read together with a bucket (what every signed request does): each found or not on its own.
        try await c.createBucket("a")
        let bucketA = try #require(try await c.bucket("a"))
        let both = try await c.accessKey(id: "NUAGEKEY1", bucket: "a")
        #expect(both.key == key && both.bucket == bucketA)
        let noBucket = try await c.accessKey(id: "NUAGEKEY1", bucket: "missing")
        #expect(noBucket.key == key && noBucket.bucket == nil)
        let noKey = try await c.accessKey(id: "OTHER", bucket: "a")
        #expect(noKey.key == nil && noKey.bucket == bucketA)
        #expect(try await c.accessKey(id: "NUAGEKEY1", bucket: nil).bucket == nil)
        #expect(try await c.listAccessKeys() == [key])
        #expect(try await c.deleteAccessKey(id: "NUAGEKEY1"))
        #expect(try await !c.deleteAccessKey(id: "NUAGEKEY1"))
        #expect(try await c.listAccessKeys().isEmpty)
    }

    static func kmsKeys(_ c: any Catalog) async throws {
        let key = KMSKeyRecord(name: "finance", id: [1, 2, 3], state: .enabled, masterKeyID: 7, wrappedKey: [9, 9],
                               created: Date(timeIntervalSince1970: 1_700_000_000))
        try await c.createKMSKey(key)
        await expectCode(.invalidArgument) { try await c.createKMSKey(key) }
        var destroyed = key
        destroyed.state = .destroyed
        destroyed.wrappedKey = []
        destroyed.deletionDate = Date(timeIntervalSince1970: 1_700_000_100)
        try await c.updateKMSKey(destroyed)
        var unknown = key
        unknown.name = "nobody"
        await expectCode(.invalidArgument) { try await c.updateKMSKey(unknown) }
        #expect(try await c.kmsKeys() == [destroyed])
        // A destroyed key's name stays taken.
        await expectCode(.invalidArgument) { try await c.createKMSKey(key) }
        let entries = try await c.journalEntries(after: 0, limit: 10)
        #expect(entries.map(\.change) == [.kmsKeyChanged(key), .kmsKeyChanged(destroyed)])
        let snapshot = try await c.snapshot()
        #expect(snapshot.kmsKeys == [destroyed])
        #expect(CatalogSnapshot(seq: 0, buckets: [], objects: [], accessKeys: []).applying(entries) == snapshot)
    }

    static func bucketSettings(_ c: any Catalog) async throws {
        try await c.createBucket("b", owner: "alice")
        let created = try #require(try await c.bucket("b"))
        #expect(created.encryption == nil && created.owner == "alice")
        try await c.createBucket("d")
        #expect(try await c.bucket("d")?.owner == Owner.default)
        try await c.deleteBucket("d")
        var changed = BucketRecord(name: "b", created: Date(timeIntervalSince1970: 1), encryption: BucketEncryption(kmsKey: "k", bucketKeyEnabled: true),
                                   tagging: "team=storage", cors: "{\"rules\":[]}", lifecycle: "{\"rules\":[]}", policy: "{}")
        try await c.updateBucket(changed)
        changed.created = created.created
        changed.owner = "alice"  // settings change, the owner does not
        #expect(try await c.bucket("b") == changed)
        #expect(try await c.listBuckets() == [changed])
        await expectCode(.noSuchBucket) { try await c.updateBucket(BucketRecord(name: "zz", created: Date())) }
        let entries = try await c.journalEntries(after: 0, limit: 10)
        #expect(entries.last?.change == .bucketUpdated(changed))
        let snapshot = try await c.snapshot()
        #expect(snapshot.buckets == [changed])
        #expect(CatalogSnapshot(seq: 0, buckets: [], objects: [], accessKeys: []).applying(entries) == snapshot)
    }

    static func conditionalDelete(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let first = record(key: "k", tag: "one"), second = record(key: "k", tag: "two")
        try await put(c, first)
        try await put(c, second, expected: first.versionID)
        #expect(try await c.deleteObject(bucket: "b", key: "k", ifVersion: first.versionID) == nil)
        #expect(try await c.object(bucket: "b", key: "k") == second)
        #expect(try await c.deleteObject(bucket: "b", key: "k", ifVersion: second.versionID) == second)
        #expect(try await c.object(bucket: "b", key: "k") == nil)
    }

    static func replaceMetadata(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let first = record(key: "k", tag: "one")
        try await put(c, first)
        var changed = first
        changed.metadata["x-amz-tagging"] = "a=1"
        #expect(try await c.replaceMetadata(bucket: "b", key: "k", versionID: first.versionID, metadata: changed.metadata) == changed)
        #expect(try await c.object(bucket: "b", key: "k") == changed)
        #expect(try await c.replaceMetadata(bucket: "b", key: "k", versionID: Array("other".utf8), metadata: [:]) == nil)
        #expect(try await c.replaceMetadata(bucket: "b", key: "none", versionID: first.versionID, metadata: [:]) == nil)
        #expect(try await c.journalEntries(after: 0, limit: 10).last?.change
                == .metadataReplaced(bucket: "b", key: "k", versionID: first.versionID, metadata: changed.metadata))
        #expect(try await c.garbage(limit: 10).isEmpty, "no blob changes hands")
    }

    static func concurrentCommits(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask {
                    do { try await put(c, record(key: "race", tag: "t\(i)"), expected: []); return true } catch let e as NuageError where e.code == .preconditionFailed {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1, "exactly one If-None-Match commit wins")
    }

    // MARK: Multipart uploads

    static func upload(_ id: String, key: String, bucket: String = "b", at seconds: Double = 1_700_000_000) -> UploadRecord {
        UploadRecord(id: id, bucket: bucket, key: key, created: Date(timeIntervalSince1970: seconds), metadata: ["content-type": "a/b"])
    }

    /// Records an intent for a part's blobs and commits the part.
    @discardableResult
    static func putPart(_ c: any Catalog, upload: String, number: Int, tag: String, size: Int64 = 5 << 20) async throws -> PartRecord {
        let manifest = record(key: "\(upload)#\(number)", tag: tag, size: size).parts[0]
        let part = PartRecord(uploadID: upload, number: number, size: size, etag: "e-\(tag)",
                              modified: Date(timeIntervalSince1970: 1_700_000_000), manifest: manifest)
        try await c.recordIntent(WriteIntent(id: "part-\(tag)", created: Date(), blobs: manifest.blobs))
        try await c.commitPart(part, intent: "part-\(tag)")
        return part
    }

    /// An object record made of `parts`.
    static func object(key: String, of parts: [PartRecord]) -> ObjectRecord {
        ObjectRecord(bucket: "b", key: key, versionID: Array("mp-\(key)".utf8), size: parts.reduce(0) { $0 + $1.size },
                     etag: "md5-\(parts.count)", modified: Date(timeIntervalSince1970: 1_700_000_000), metadata: [:],
                     parts: parts.map(\.manifest))
    }

    static func uploads(_ c: any Catalog) async throws {
        await expectCode(.noSuchBucket) { try await c.createUpload(upload("u0", key: "k")) }
        try await c.createBucket("b")
        for (id, key, time) in [("u2", "b/x", 3.0), ("u1", "b/x", 2.0), ("u3", "a", 1.0), ("u4", "c", 0.5)] {
            try await c.createUpload(upload(id, key: key, at: 1_700_000_000 + time))
        }
        #expect(try await c.upload(id: "u1") == upload("u1", key: "b/x", at: 1_700_000_002))
        #expect(try await c.upload(id: "nope") == nil)
        #expect(try await c.listUploads(bucket: "b", prefix: "", after: nil, limit: 10).map(\.id) == ["u3", "u1", "u2", "u4"])
        #expect(try await c.listUploads(bucket: "b", prefix: "b/", after: nil, limit: 10).map(\.id) == ["u1", "u2"])
        #expect(try await c.listUploads(bucket: "b", prefix: "", after: ("b/x", "u1"), limit: 10).map(\.id) == ["u2", "u4"])
        #expect(try await c.listUploads(bucket: "b", prefix: "", after: ("b/x", nil), limit: 10).map(\.id) == ["u4"])
        #expect(try await c.listUploads(bucket: "b", prefix: "", after: nil, limit: 2).map(\.id) == ["u3", "u1"])
        #expect(try await c.uploads(before: Date(timeIntervalSince1970: 1_700_000_001.5)).map(\.id) == ["u4", "u3"])
    }

    static func parts(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        try await c.createUpload(upload("u", key: "k"))
        let first = try await putPart(c, upload: "u", number: 2, tag: "a")
        try await putPart(c, upload: "u", number: 1, tag: "b")
        let replacement = try await putPart(c, upload: "u", number: 2, tag: "c")
        #expect(try await c.parts(uploadID: "u").map(\.etag) == ["e-b", "e-c"])
        #expect(try await c.parts(uploadID: "u").last == replacement)
        #expect(Set(try await c.garbage(limit: 100)) == Set(first.manifest.blobs), "the replaced part's blobs are garbage")
        await expectCode(.noSuchUpload) { try await putPart(c, upload: "gone", number: 1, tag: "d") }
    }

    static func completeUpload(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let old = record(key: "k", tag: "old")
        try await put(c, old)
        try await c.createUpload(upload("u", key: "k"))
        let one = try await putPart(c, upload: "u", number: 1, tag: "1")
        let unused = try await putPart(c, upload: "u", number: 2, tag: "2")
        let three = try await putPart(c, upload: "u", number: 3, tag: "3")
        let object = object(key: "k", of: [one, three])
        await expectCode(.preconditionFailed) { try await c.completeUpload(id: "u", object: object, expectedVersion: []) }
        #expect(try await c.upload(id: "u") != nil, "a failed completion keeps the upload")
        let replaced = try await c.completeUpload(id: "u", object: object, expectedVersion: old.versionID)
        #expect(replaced == old)
        #expect(try await c.object(bucket: "b", key: "k") == object)
        #expect(try await c.upload(id: "u") == nil)
        #expect(try await c.parts(uploadID: "u").isEmpty)
        #expect(Set(try await c.garbage(limit: 100)) == Set(old.blobs + unused.manifest.blobs))
        await expectCode(.noSuchUpload) { try await c.completeUpload(id: "u", object: object, expectedVersion: nil) }
    }

    static func completeReplacedPart(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        try await c.createUpload(upload("u", key: "k"))
        let one = try await putPart(c, upload: "u", number: 1, tag: "1")
        try await putPart(c, upload: "u", number: 1, tag: "1bis")
        await expectCode(.invalidPart) { try await c.completeUpload(id: "u", object: object(key: "k", of: [one]), expectedVersion: nil) }
        #expect(try await c.object(bucket: "b", key: "k") == nil)
    }

    static func abortUpload(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        try await c.createUpload(upload("u", key: "k"))
        let part = try await putPart(c, upload: "u", number: 1, tag: "1")
        try await c.abortUpload(id: "u")
        #expect(try await c.upload(id: "u") == nil)
        #expect(Set(try await c.garbage(limit: 100)) == Set(part.manifest.blobs))
        await expectCode(.noSuchUpload) { try await c.abortUpload(id: "u") }
        try await c.createUpload(upload("v", key: "k"))
        let other = try await putPart(c, upload: "v", number: 1, tag: "2")
        try await c.deleteBucket("b")
        #expect(try await c.upload(id: "v") == nil, "deleting a bucket aborts its uploads")
        #expect(Set(try await c.garbage(limit: 100)) == Set(part.manifest.blobs + other.manifest.blobs))
    }

    static func referencedParts(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        try await c.createUpload(upload("u", key: "k"))
        let part = try await putPart(c, upload: "u", number: 1, tag: "1")
        #expect(try await c.referencedBlobs(provider: "p1") == [part.manifest.shards[1]!.blob])
        try await c.completeUpload(id: "u", object: object(key: "k", of: [part]), expectedVersion: nil)
        #expect(try await c.referencedBlobs(provider: "p1") == [part.manifest.shards[1]!.blob], "still referenced by the object")
    }

    static func expectCode(_ code: NuageError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code)", sourceLocation: sourceLocation)
        } catch let error as NuageError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected NuageError \(code), got \(error)", sourceLocation: sourceLocation)
        }
    }
}
