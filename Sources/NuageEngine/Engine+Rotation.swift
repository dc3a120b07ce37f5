import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
import NuageProviders

extension Engine {
    /// What moving everything to the active master key did.
    public struct RekeyReport: Sendable, Codable, Hashable {
        /// Object versions (parts count one each) moved to the active key.
        public var versions = 0
        /// Shard blobs copied with their header sealed anew (no data re-encrypted).
        public var shards = 0
        public var bytesCopied: Int64 = 0
        /// Access keys whose secret was sealed anew.
        public var secrets = 0
        /// KMS keys wrapped anew under the active master key.
        public var kmsKeys = 0
        /// What could not be moved now (run it again), with why.
        public var failed: [String] = []
        /// Multipart uploads in progress with parts under an older key (they move once completed).
        public var uploadParts = 0
    }

    /// Moves everything still under an older master key to the active one, so that the older
    /// keys can be retired: each version's shards are copied with their header opened and sealed
    /// anew (the chunks are copied as they are, every tag checked: no byte of data is
    /// re-encrypted) and swapped in, then its data key is rewrapped in the catalog; access-key
    /// secrets are sealed anew; a catalog snapshot under the active key replaces the journal.
    /// Resumable: what is already under the active key is skipped.
    public func rekey(progress: @Sendable (RekeyReport) -> Void = { _ in }) async throws -> RekeyReport {
        var report = RekeyReport()
        let active = masterKey.id
        try await forEachVersionPage { page in
            for record in page {
                for manifest in record.parts where manifest.keyID != active {
                    await rekey(manifest, of: record, into: &report)
                    progress(report)
                }
            }
        }
        try await forEachUploadedPart { _, part in
            if part.manifest.keyID != active { report.uploadParts += 1 }
        }
        for key in try await catalog.listAccessKeys() where (try? masterKey.openSecret(key.sealedSecret, accessKey: key.id)) == nil {
            var updated = key
            updated.sealedSecret = try masterKey.sealSecret(try openSecret(key.sealedSecret, accessKey: key.id), accessKey: key.id)
            try await catalog.updateAccessKey(updated)
            report.secrets += 1
        }
        for record in try await catalog.kmsKeys() where record.state != .destroyed && record.masterKeyID != active {
            var updated = record
            let key = try self.key(id: record.masterKeyID)
            updated.wrappedKey = try await masterKey.rewrapKMSKey(record.wrappedKey, id: record.id, from: key)
            updated.masterKeyID = active
            try await catalog.updateKMSKey(updated)
            kmsCache.invalidate()
            report.kmsKeys += 1
        }
        try await journalDurable()
        try await snapshotCatalog()
        return report
    }

    /// One version: every written shard copied with a new header, then the data key rewrapped.
    private func rekey(_ manifest: Manifest, of record: ObjectRecord, into report: inout RekeyReport) async {
        let label = "\(record.bucket)/\(record.key) version \(manifest.versionID.hex.prefix(8))"
        do {
            // An SSE-C or SSE-KMS version's data key stays under the client's or the KMS key; its tag key moves.
            let keys = RewrappedKeys(
                keyID: masterKey.id,
                wrappedKey: !manifest.dataKeyUnderMasterKey ? manifest.wrappedKey : try await masterKey.wrap(dataKey(manifest), context: manifest.versionID),
                wrappedTagKey: manifest.wrappedTagKey == nil ? nil : try await masterKey.wrap(tagKey(manifest), versionID: manifest.versionID))
            let blobLength = ShardLayout(size: manifest.size, segmentSize: manifest.segmentSize, dataShards: manifest.dataShards).blobLength
            var current = manifest
            for shard in manifest.shards.indices where manifest.shards[shard] != nil {
                guard try await copy(shard, of: current, bucket: record.bucket, key: record.key, avoiding: [],
                                     resealingHeader: keys) else { return }  // replaced meanwhile
                guard let fresh = try await storedVersion(of: record)?.parts
                    .first(where: { $0.versionID == manifest.versionID }) else { return }
                current = fresh
                report.shards += 1
                report.bytesCopied += blobLength
            }
            current.keyID = keys.keyID
            current.wrappedKey = keys.wrappedKey
            current.wrappedTagKey = keys.wrappedTagKey
            guard try await catalog.updateManifest(bucket: record.bucket, key: record.key, versionID: manifest.versionID, manifest: current) else {
                return
            }
            report.versions += 1
        } catch {
            report.failed.append("\(label): \(error)")
        }
    }

    /// Throws when the catalog's objects are under none of the master keys held: `master.key`
    /// is another data directory's (or a wrong copy), which would otherwise show as every read
    /// failing. Looks at the first object found.
    public func checkKeysMatchCatalog() async throws {
        for bucket in try await catalog.listBuckets() {
            guard let object = try await catalog.listObjects(bucket: bucket.name, prefix: "", after: nil, limit: 1).first else { continue }
            let wanted = Set(object.parts.map(\.keyID))
            guard wanted.isDisjoint(with: keys.map(\.id)) else { return }
            throw NuageError(.configuration, "master.key (id \(String(format: "%08x", masterKey.id))) does not match this catalog: its objects are "
                             + "under key \(wanted.map { String(format: "%08x", $0) }.sorted().joined(separator: ", ")) (the key of another data "
                             + "directory, or a wrong copy; keys join-master rebuilds the right one from its shares)")
        }
    }

    /// Why the master key `id` cannot be retired yet (empty: it can): the active key, versions
    /// or upload parts still wrapped under it, secrets or journal and audit blobs still sealed
    /// under it.
    public func retirementBlockers(keyID id: UInt32) async throws -> [String] {
        guard id != masterKey.id else { return ["it is the active key (rotate first: nuage keys rotate-master)"] }
        guard let key = olderKeys.first(where: { $0.id == id }) else { return ["no older key \(String(format: "%08x", id)) is held"] }
        var blockers: [String] = []
        var versions = 0, example: String?
        try await forEachVersionPage { page in
            for record in page where record.parts.contains(where: { $0.keyID == id }) {
                versions += 1
                example = example ?? "\(record.bucket)/\(record.key)"
            }
        }
        var uploads: [String] = []
        try await forEachUploadedPart { upload, part in
            if part.manifest.keyID == id && !uploads.contains(upload.id) {
                uploads.append(upload.id)
                blockers.append("the multipart upload \(upload.id) of \(upload.bucket)/\(upload.key) has parts under it (complete or abort it)")
            }
        }
        if versions > 0 { blockers.append("\(versions) object(s) are still under it, e.g. \(example ?? "?") (nuage keys rekey moves them)") }
        for kms in try await catalog.kmsKeys() where kms.state != .destroyed && kms.masterKeyID == id {
            blockers.append("KMS key \(kms.name) is wrapped under it (nuage keys rekey)")
        }
        for access in try await catalog.listAccessKeys() where (try? key.openSecret(access.sealedSecret, accessKey: access.id)) != nil {
            blockers.append("the secret of access key \(access.id) is sealed under it (nuage keys rekey)")
        }
        // Journal and audit blobs: those at providers that only this key opens.
        for blob in try await catalog.journalBlobs() {
            guard let ref = blob.copies.first else { continue }
            let bytes: [UInt8]
            do { bytes = try await provider(named: ref.provider).get(ref.blob, range: nil).bytes } catch {
                blockers.append("\(ref.blob) (\(blob.kind.rawValue)) cannot be read to check which key sealed it: \(error)")
                continue
            }
            let sealed = Array(bytes.dropFirst(JournalFile.magic.count + 1))
            if (try? key.openJournal(sealed, context: Array(ref.blob.utf8))) != nil {
                blockers.append("\(ref.blob) (\(blob.kind.rawValue)) is sealed under it (nuage keys rekey writes a snapshot; audit copies are sent again)")
            }
        }
        return blockers
    }
}
