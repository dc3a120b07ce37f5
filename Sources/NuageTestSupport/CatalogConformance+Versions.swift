import Foundation
import NuageCatalog
import NuageCore
import Testing

/// The versioning and Object Lock part of the catalog contract.
extension CatalogConformance {
    static let versionChecks: [(name: String, run: Check)] = [
        ("versions: a versioned put keeps the current version, a null one replaces the null version", versionedPuts),
        ("versions: delete markers, deleting a version, the next newest becomes current", deleteMarkers),
        ("versions: listing by key, newest first, latest flags, paging after a key and a version", listVersions),
        ("versions: manifests, metadata, scrub times and referenced blobs of noncurrent versions", noncurrentVersions),
        ("versions: replaying the journal rebuilds every version; restore takes them", versionJournal),
        ("object lock: a locked version is never removed; versioning and lock stay once set", objectLock),
        ("leases: one holder at a time, renewals, takeover once expired, concurrent claims", leases),
    ]

    static func leases(_ c: any Catalog) async throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try await c.lease("repair") == nil)
        #expect(try await c.claimLease("repair", holder: "a", now: t0, until: t0 + 30))
        #expect(try await c.claimLease("repair", holder: "b", now: t0 + 10, until: t0 + 40) == false, "held by a")
        #expect(try await c.claimLease("gc", holder: "b", now: t0 + 10, until: t0 + 40), "another job is free")
        #expect(try await c.claimLease("repair", holder: "a", now: t0 + 20, until: t0 + 50), "a renews")
        #expect(try await c.claimLease("repair", holder: "b", now: t0 + 45, until: t0 + 75) == false, "renewed past 45")
        #expect(try await c.claimLease("repair", holder: "b", now: t0 + 50, until: t0 + 80), "expired: b takes over")
        let held = try await c.lease("repair")
        #expect(held?.holder == "b" && held?.until == t0 + 80)
        #expect(try await c.claimLease("repair", holder: "a", now: t0 + 60, until: t0 + 90) == false, "a lost it")
        // Many claims at once: exactly one wins.
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<8 { group.addTask { try await c.claimLease("race", holder: "g\(i)", now: t0, until: t0 + 30) } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
    }

    /// A version of `key` written while its bucket's versioning is Enabled (`versioned`) or not.
    static func version(_ key: String, _ tag: String, versioned: Bool = true, metadata: [String: String] = [:]) -> ObjectRecord {
        var r = record(key: key, tag: tag)
        r.versioned = versioned
        r.metadata.merge(metadata) { _, new in new }
        return r
    }

    static func versionedPuts(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let null1 = version("k", "n1", versioned: false), v1 = version("k", "v1"), v2 = version("k", "v2")
        try await put(c, null1)
        #expect(try await put(c, v1) == nil, "a versioned put replaces nothing")
        #expect(try await put(c, v2) == nil)
        #expect(try await c.object(bucket: "b", key: "k") == v2)
        #expect(try await c.versions(bucket: "b", key: "k") == [v2, v1, null1])
        #expect(try await c.version(bucket: "b", key: "k", versionID: nil) == null1, "nil names the null version")
        #expect(try await c.version(bucket: "b", key: "k", versionID: v1.versionID) == v1)
        #expect(try await c.garbage(limit: 10).isEmpty, "every version keeps its blobs")
        // Suspended: a null put keeps versioned ones and replaces the older null version.
        let null2 = version("k", "n2", versioned: false)
        #expect(try await put(c, null2) == nil, "the current version was versioned: kept")
        #expect(try await c.versions(bucket: "b", key: "k") == [null2, v2, v1])
        #expect(Set(try await c.garbage(limit: 10)) == Set(null1.blobs))
        let null3 = version("k", "n3", versioned: false)
        #expect(try await put(c, null3) == null2, "a null current version is replaced")
        #expect(try await c.versions(bucket: "b", key: "k") == [null3, v2, v1])
        await expectCode(.bucketNotEmpty) { try await c.deleteBucket("b") }
    }

    static func deleteMarkers(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let v1 = version("k", "v1"), v2 = version("k", "v2")
        try await put(c, v1)
        try await put(c, v2)
        let marker = ObjectRecord.deleteMarker(bucket: "b", key: "k", versioned: true, modified: Date(timeIntervalSince1970: 1_700_000_100))
        #expect(try await c.deleteObject(bucket: "b", key: "k", ifVersion: nil, marker: marker) == nil)
        #expect(try await c.object(bucket: "b", key: "k") == nil, "a delete marker hides the key")
        #expect(try await c.versions(bucket: "b", key: "k") == [marker, v2, v1])
        #expect(try await c.version(bucket: "b", key: "k", versionID: marker.versionID) == marker)
        // A conditional delete of a version that is not current leaves no marker.
        let other = ObjectRecord.deleteMarker(bucket: "b", key: "k", versioned: true, modified: Date())
        #expect(try await c.deleteObject(bucket: "b", key: "k", ifVersion: v1.versionID, marker: other) == nil)
        #expect(try await c.versions(bucket: "b", key: "k").count == 3)
        // Removing the marker makes v2 current again; removing v2 then makes v1 current.
        #expect(try await c.deleteVersion(bucket: "b", key: "k", versionID: marker.versionID, bypassGovernance: false, now: Date()) == marker)
        #expect(try await c.object(bucket: "b", key: "k") == v2)
        #expect(try await c.deleteVersion(bucket: "b", key: "k", versionID: v2.versionID, bypassGovernance: false, now: Date()) == v2)
        #expect(try await c.object(bucket: "b", key: "k") == v1)
        #expect(Set(try await c.garbage(limit: 10)) == Set(v2.blobs), "only the removed version's blobs are garbage")
        #expect(try await c.deleteVersion(bucket: "b", key: "k", versionID: [1, 2, 3], bypassGovernance: false, now: Date()) == nil)
        // A marker under an older one: removing the newest version leaves the marker, and no current version.
        let m2 = ObjectRecord.deleteMarker(bucket: "b", key: "k", versioned: true, modified: Date())
        try await c.deleteObject(bucket: "b", key: "k", ifVersion: nil, marker: m2)
        let v3 = version("k", "v3")
        try await put(c, v3)
        try await c.deleteVersion(bucket: "b", key: "k", versionID: v3.versionID, bypassGovernance: false, now: Date())
        #expect(try await c.object(bucket: "b", key: "k") == nil)
        #expect(try await c.versions(bucket: "b", key: "k") == [m2, v1])
        // A null marker replaces the null version; a delete without a marker removes the current version.
        try await put(c, version("n", "n1", versioned: false))
        let nullMarker = ObjectRecord.deleteMarker(bucket: "b", key: "n", versioned: false, modified: Date())
        #expect(try await c.deleteObject(bucket: "b", key: "n", ifVersion: nil, marker: nullMarker)?.etag == "etag-n1")
        #expect(try await c.versions(bucket: "b", key: "n") == [nullMarker])
        for key in ["k", "n"] {
            for version in try await c.versions(bucket: "b", key: key) {
                try await c.deleteVersion(bucket: "b", key: key, versionID: version.versionID, bypassGovernance: false, now: Date())
            }
        }
        try await c.deleteBucket("b")
    }

    static func listVersions(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let a1 = version("a", "1"), a2 = version("a", "2"), b1 = version("b", "1"), c1 = version("c", "1")
        for r in [a1, a2, b1, c1] { try await put(c, r) }
        let bMarker = ObjectRecord.deleteMarker(bucket: "b", key: "b", versioned: true, modified: Date(timeIntervalSince1970: 1_700_000_000))
        try await c.deleteObject(bucket: "b", key: "b", ifVersion: nil, marker: bMarker)
        let all = try await c.listVersions(bucket: "b", prefix: "", after: nil, limit: 100)
        #expect(all.map(\.record) == [a2, a1, bMarker, b1, c1])
        #expect(all.map(\.isLatest) == [true, false, true, false, true])
        // Paging: after a current version, after an older one, after a whole key, unknown ids.
        #expect(try await c.listVersions(bucket: "b", prefix: "", after: ("a", a2.versionID), limit: 2).map(\.record) == [a1, bMarker])
        #expect(try await c.listVersions(bucket: "b", prefix: "", after: ("b", bMarker.versionID), limit: 9).map(\.record) == [b1, c1])
        #expect(try await c.listVersions(bucket: "b", prefix: "", after: ("a", nil), limit: 9).map(\.record) == [bMarker, b1, c1])
        #expect(try await c.listVersions(bucket: "b", prefix: "", after: ("a", [9, 9]), limit: 9).map(\.record) == [bMarker, b1, c1])
        #expect(try await c.listVersions(bucket: "b", prefix: "b", after: nil, limit: 9).map(\.record) == [bMarker, b1])
        #expect(try await c.listVersions(bucket: "b", prefix: "", after: nil, limit: 1).map(\.record) == [a2])
        // Walking page by page visits every version once.
        var walked: [ObjectRecord] = [], after: (key: String, versionID: [UInt8]?)?
        while true {
            let page = try await c.listVersions(bucket: "b", prefix: "", after: after, limit: 2)
            walked += page.map(\.record)
            guard page.count == 2, let last = page.last else { break }
            after = (last.record.key, last.record.versionID)
        }
        #expect(walked == all.map(\.record))
        await expectCode(.noSuchBucket) { _ = try await c.listVersions(bucket: "zz", prefix: "", after: nil, limit: 1) }
    }

    static func noncurrentVersions(_ c: any Catalog) async throws {
        try await c.createBucket("b")
        let v1 = version("k", "v1"), v2 = version("k", "v2")
        try await put(c, v1)
        try await put(c, v2)
        // A drain or a repair moves shards of a noncurrent version.
        var moved = v1.parts[0]
        moved.shards[0] = BlobRef(provider: "p9", blob: "moved")
        #expect(try await c.updateManifest(bucket: "b", key: "k", versionID: v1.versionID, manifest: moved))
        #expect(try await c.version(bucket: "b", key: "k", versionID: v1.versionID)?.parts == [moved])
        #expect(try await c.object(bucket: "b", key: "k") == v2, "the current version is untouched")
        #expect(try await c.referencedBlobs(provider: "p9") == ["moved"])
        #expect(try await c.referencedBlobs(provider: "p1").isSuperset(of: [v1.parts[0].shards[1]!.blob, v2.parts[0].shards[1]!.blob]))
        // Tags or a legal hold set on a noncurrent version.
        let tagged = try await c.replaceMetadata(bucket: "b", key: "k", versionID: v1.versionID, metadata: ["x-amz-tagging": "a=1"])
        #expect(tagged?.metadata == ["x-amz-tagging": "a=1"])
        #expect(try await c.version(bucket: "b", key: "k", versionID: v1.versionID)?.metadata == ["x-amz-tagging": "a=1"])
        // A scrub of a noncurrent version is noted (and of a removed one, not).
        try await c.noteScrubbed([v1], deep: true, at: Date(timeIntervalSince1970: 1_700_000_000))
        try await c.deleteVersion(bucket: "b", key: "k", versionID: v1.versionID, bypassGovernance: false, now: Date())
        try await c.noteScrubbed([v1], deep: true, at: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(try await c.updateManifest(bucket: "b", key: "k", versionID: v1.versionID, manifest: moved) == false)
    }

    static func versionJournal(_ c: any Catalog) async throws {
        try await c.createBucket("b", owner: Owner.default, objectLock: "{}")
        #expect(try await c.bucket("b")?.versioning == .enabled, "a bucket with Object Lock is versioned from the start")
        let v1 = version("k", "v1"), v2 = version("k", "v2"), n1 = version("n", "n1", versioned: false)
        try await put(c, v1)
        try await put(c, v2)
        try await put(c, n1)
        try await c.deleteObject(bucket: "b", key: "k", ifVersion: nil,
                                 marker: .deleteMarker(bucket: "b", key: "k", versioned: true, modified: Date(timeIntervalSince1970: 1_700_000_000)))
        try await c.replaceMetadata(bucket: "b", key: "k", versionID: v1.versionID, metadata: ["x-amz-tagging": "t=1"])
        try await c.deleteVersion(bucket: "b", key: "k", versionID: v2.versionID, bypassGovernance: false, now: Date())
        try await put(c, version("n", "n2", versioned: false))
        let snapshot = try await c.snapshot()
        #expect(snapshot.objects.map(\.key) == ["n"])
        #expect(snapshot.versions.map(\.key) == ["k", "k"], "v1 and the marker")
        let entries = try await c.journalEntries(after: 0, limit: 100)
        #expect(CatalogSnapshot(seq: 0, buckets: [], objects: [], accessKeys: []).applying(entries) == snapshot)
        // Snapshots of old gateways have no versions; the encoding of unversioned state is unchanged.
        let encoded = try JSONEncoder().encode(CatalogSnapshot(seq: 1, buckets: [], objects: [record(key: "x")], accessKeys: []))
        #expect(!String(decoding: encoded, as: UTF8.self).contains("versioned"))
        #expect(try JSONDecoder().decode(CatalogSnapshot.self, from: encoded).versions.isEmpty)
    }

    static func objectLock(_ c: any Catalog) async throws {
        try await c.createBucket("b", owner: Owner.default, objectLock: "{}")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let until = ObjectLock.formatDate(now.addingTimeInterval(3600))
        let governed = version("g", "v", metadata: [ObjectLock.modeKey: "GOVERNANCE", ObjectLock.retainUntilKey: until])
        let complied = version("c", "v", metadata: [ObjectLock.modeKey: "COMPLIANCE", ObjectLock.retainUntilKey: until])
        let held = version("h", "v", metadata: [ObjectLock.legalHoldKey: "ON"])
        for r in [governed, complied, held] { try await put(c, r) }
        await expectCode(.objectLocked) { try await c.deleteVersion(bucket: "b", key: "g", versionID: governed.versionID, bypassGovernance: false, now: now) }
        await expectCode(.objectLocked) { try await c.deleteVersion(bucket: "b", key: "c", versionID: complied.versionID, bypassGovernance: true, now: now) }
        await expectCode(.objectLocked) { try await c.deleteVersion(bucket: "b", key: "h", versionID: held.versionID, bypassGovernance: true, now: now.addingTimeInterval(1e9)) }
        await expectCode(.objectLocked) { try await c.deleteObject(bucket: "b", key: "c") }
        #expect(try await c.versions(bucket: "b", key: "c") == [complied], "nothing changed")
        // A delete marker hides a locked version without removing it.
        try await c.deleteObject(bucket: "b", key: "c", ifVersion: nil, marker: .deleteMarker(bucket: "b", key: "c", versioned: true, modified: now))
        #expect(try await c.version(bucket: "b", key: "c", versionID: complied.versionID) == complied)
        // Retention ends; GOVERNANCE yields to a bypass before.
        #expect(try await c.deleteVersion(bucket: "b", key: "g", versionID: governed.versionID, bypassGovernance: true, now: now) == governed)
        #expect(try await c.deleteVersion(bucket: "b", key: "c", versionID: complied.versionID, bypassGovernance: false,
                                          now: now.addingTimeInterval(3601)) == complied)
        // An unreadable retention date holds.
        let garbled = version("x", "v", metadata: [ObjectLock.modeKey: "COMPLIANCE", ObjectLock.retainUntilKey: "soon"])
        try await put(c, garbled)
        await expectCode(.objectLocked) { try await c.deleteVersion(bucket: "b", key: "x", versionID: garbled.versionID, bypassGovernance: true, now: now) }
        // Retention can be extended, never shortened (GOVERNANCE: unless bypassed) nor turned from COMPLIANCE to GOVERNANCE.
        let later = ObjectLock.formatDate(now.addingTimeInterval(7200)), sooner = ObjectLock.formatDate(now.addingTimeInterval(60))
        let longer = [ObjectLock.modeKey: "COMPLIANCE", ObjectLock.retainUntilKey: later]
        try await put(c, version("r", "v", metadata: [ObjectLock.modeKey: "COMPLIANCE", ObjectLock.retainUntilKey: until]))
        let r = try #require(try await c.object(bucket: "b", key: "r"))
        #expect(try await c.replaceMetadata(bucket: "b", key: "r", versionID: r.versionID, metadata: longer, bypassGovernance: false, now: now)?.metadata == longer)
        for weaker in [[ObjectLock.modeKey: "COMPLIANCE", ObjectLock.retainUntilKey: sooner], [ObjectLock.modeKey: "GOVERNANCE", ObjectLock.retainUntilKey: later], [:]] {
            await expectCode(.objectLocked) {
                _ = try await c.replaceMetadata(bucket: "b", key: "r", versionID: r.versionID, metadata: weaker, bypassGovernance: true, now: now)
            }
        }
        try await put(c, version("s", "v", metadata: [ObjectLock.modeKey: "GOVERNANCE", ObjectLock.retainUntilKey: until]))
        let g = try #require(try await c.object(bucket: "b", key: "s"))
        await expectCode(.objectLocked) {
            _ = try await c.replaceMetadata(bucket: "b", key: "s", versionID: g.versionID, metadata: [:], bypassGovernance: false, now: now)
        }
        #expect(try await c.replaceMetadata(bucket: "b", key: "s", versionID: g.versionID, metadata: [:], bypassGovernance: true, now: now)?.metadata == [:])
        // The bucket keeps Object Lock and Enabled versioning.
        var record = try #require(try await c.bucket("b"))
        record.versioning = .suspended
        await expectCode(.invalidArgument) { try await c.updateBucket(record) }
        record.versioning = .enabled
        record.objectLock = nil
        await expectCode(.invalidArgument) { try await c.updateBucket(record) }
        try await c.createBucket("plain")
        var plain = try #require(try await c.bucket("plain"))
        plain.versioning = .suspended
        try await c.updateBucket(plain)
        plain.versioning = nil
        await expectCode(.invalidArgument) { try await c.updateBucket(plain) }
        plain.versioning = .enabled
        plain.objectLock = "{}"
        await expectCode(.invalidArgument) { try await c.updateBucket(plain) }
    }
}
