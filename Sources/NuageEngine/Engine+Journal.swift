import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
import NuageProviders

/// The catalog journal at providers, so that `nuage recover` can rebuild the catalog.
///
/// Every change the catalog makes is numbered in the transaction that makes it (see
/// ``Catalog/journalEntries(after:limit:)``). Before a change is acknowledged, the entries up to
/// it are written to `m + 1` providers in distinct jurisdictions as one sealed *segment* blob
/// (`j-…`); requests that wait at the same time share one segment. From time to time the whole
/// state is written the same way as a *snapshot* (`s-…`), and the segments it covers are deleted.
/// Blobs that a change lists as garbage are deleted only once that change is at providers.
extension Engine {
    /// Blob names of the journal: nothing in them but a random name (shards are plain hex).
    static let segmentPrefix = "j-"
    static let snapshotPrefix = "s-"

    /// Returns once every change committed so far is at providers (in a segment or a
    /// snapshot); changes of other requests waiting meanwhile go in the same segment.
    /// - Throws: when the journal cannot be written to enough providers (the change stays in
    ///   the catalog and goes out with the next flush).
    public func journalDurable() async throws {
        try await journalFlusher.durable(self)
    }

    /// Writes the whole catalog state as a snapshot; segments and snapshots it covers go to the
    /// garbage list.
    @discardableResult
    public func snapshotCatalog() async throws -> JournalBlob {
        let state = try await catalog.snapshot()
        let blob = JournalBlob(kind: .snapshot, first: 0, last: state.seq,
                               copies: try await writeJournal(JournalFile(snapshot: state), prefix: Self.snapshotPrefix))
        try await catalog.noteJournalSnapshot(blob)
        return blob
    }

    /// Takes a snapshot once `threshold` changes have gone into segments since the last one.
    @discardableResult
    public func compactJournal(threshold: Int64 = 10_000) async throws -> Bool {
        let state = try await catalog.journalState()
        guard state.head - state.snapshot >= threshold else { return false }
        try await snapshotCatalog()
        return true
    }

    /// One flush: the entries not yet at providers as a segment (a snapshot the first time, so
    /// that state older than the journal is covered too).
    func flushJournal() async throws {
        let state = try await catalog.journalState()
        guard state.snapshot > 0 else {
            try await snapshotCatalog()
            return
        }
        let entries = try await catalog.journalEntries(after: state.durable, limit: 5000)
        guard let first = entries.first, let last = entries.last else { return }
        let copies = try await writeJournal(JournalFile(entries: entries), prefix: Self.segmentPrefix)
        try await catalog.noteJournalSegment(JournalBlob(kind: .segment, first: first.seq, last: last.seq, copies: copies))
    }

    static let auditPrefix = "a-"
    static let auditMagic = Array("NUAGEAUD".utf8)

    /// Keeps `plaintext` (a copy of the audit log) at `m + 1` (at least 3) providers in distinct jurisdictions,
    /// sealed like the journal; the catalog remembers it, so gc keeps it.
    public func storeAuditCopy(_ plaintext: [UInt8]) async throws {
        let name = Self.auditPrefix + [UInt8].random(count: 16).hex
        let bytes = Self.auditMagic + [JournalFile.format] + (try masterKey.sealJournal(plaintext, context: Array(name.utf8)))
        // At least three jurisdictions, whatever m (a rollback must be caught from any of them).
        let copies = try await writeCopies(bytes, name: name, wanted: max(3, placement.policy.parityShards + 1))
        try await catalog.noteJournalBlob(JournalBlob(kind: .audit, first: 0, last: 0, copies: copies))
    }

    /// Replaces every audit log copy at providers by one (`plaintext`, the whole log), sealed
    /// under the active key; the older copies go to the garbage list.
    public func replaceAuditCopies(with plaintext: [UInt8]) async throws {
        let older = try await catalog.journalBlobs().filter { $0.kind == .audit }
        try await storeAuditCopy(plaintext)
        try await catalog.retireJournalBlobs(older)
    }

    /// Every audit log copy found at the providers that answer, opened (each from the first copy
    /// that opens), and what could not be read.
    public func auditCopies() async -> (copies: [[UInt8]], problems: [String]) {
        var names: [String: [BlobRef]] = [:], problems: [String] = []
        for descriptor in placement.providers where !neverContacted.contains(descriptor.name) {
            guard let provider = providers[descriptor.name] else { continue }
            do {
                for blob in try await provider.listAll(prefix: Self.auditPrefix) {
                    names[blob.name, default: []].append(BlobRef(provider: descriptor.name, blob: blob.name))
                }
            } catch {
                problems.append("\(descriptor.name) cannot be listed: \(error)")
            }
        }
        var copies: [[UInt8]] = []
        for (name, refs) in names.sorted(by: { $0.key < $1.key }) {
            var opened: [UInt8]?
            for ref in refs where opened == nil {
                guard let bytes = try? await provider(named: ref.provider).get(ref.blob, range: nil).bytes,
                      bytes.count > Self.auditMagic.count + 1, Array(bytes.prefix(Self.auditMagic.count)) == Self.auditMagic else { continue }
                let sealed = Array(bytes[(Self.auditMagic.count + 1)...])
                opened = keys.lazy.compactMap { try? $0.openJournal(sealed, context: Array(name.utf8)) }.first
            }
            if let opened { copies.append(opened) } else { problems.append("\(name): no copy opens (altered or unreadable)") }
        }
        return (copies, problems)
    }

    /// Writes one sealed journal blob to `m + 1` eligible providers in distinct jurisdictions
    /// (the healthy ones first; another is tried when one fails).
    func writeJournal(_ file: JournalFile, prefix: String) async throws -> [BlobRef] {
        let name = prefix + [UInt8].random(count: 16).hex
        return try await writeCopies(try file.sealed(name: name, with: masterKey), name: name)
    }

    /// Writes `bytes` as blob `name` to `m + 1` eligible providers in distinct jurisdictions: to
    /// one more than that at once (the healthy first), another started for each that fails, done
    /// once `m + 1` have it and the last one landed or had the straggler grace; so one provider
    /// that stops answering delays a request by the grace at most. A copy that lands after it
    /// was given up is an orphan that gc deletes.
    private func writeCopies(_ bytes: [UInt8], name: String, wanted: Int? = nil) async throws -> [BlobRef] {
        let wanted = wanted ?? placement.policy.parityShards + 1
        var queue = placement.providers
            .filter { placement.exclusions[$0.name] == nil && !neverContacted.contains($0.name) && providers[$0.name] != nil }
            .sorted { (health[$0.name]?.state == .down ? 1 : 0, $0.name) < (health[$1.name]?.state == .down ? 1 : 0, $1.name) }[...]
        // A provider that accepts a call and never answers is given up after this.
        let limit = max(stragglerGrace, .seconds(10))
        struct Outcome: Sendable {
            /// Nil: the straggler grace ran out.
            var descriptor: ProviderDescriptor?
            var failure: String?
        }
        let grace = stragglerGrace
        let (written, failures) = await withTaskGroup(of: Outcome.self) { group in
            var written: [BlobRef] = [], places: Set<String> = [], busy: Set<String> = [], failures: [String] = [], running = 0
            func startNext() {
                while let next = queue.first {
                    queue = queue.dropFirst()
                    let place = next.jurisdiction.code
                    guard !places.contains(place), !busy.contains(place), let provider = providers[next.name] else { continue }
                    busy.insert(place)
                    running += 1
                    group.addTask {
                        do {
                            try await withDeadline(limit, onTimeout: {
                                ProviderError.timeout(provider: next.name, "\(name): no answer within \(limit)")
                            }) { try await provider.put(name, bytes: bytes) }
                            return Outcome(descriptor: next)
                        } catch { return Outcome(descriptor: next, failure: "\(error)") }
                    }
                    return
                }
            }
            for _ in 0..<(wanted + 1) { startNext() }
            var waitingForStragglers = false
            while running > 0, let outcome = await group.next() {
                guard let descriptor = outcome.descriptor else { break }  // the grace is over
                running -= 1
                let place = descriptor.jurisdiction.code
                busy.remove(place)
                if let failure = outcome.failure {
                    failures.append("\(descriptor.name): \(failure)")
                    if written.count < wanted { startNext() }
                } else {
                    written.append(BlobRef(provider: descriptor.name, blob: name))
                    places.insert(place)
                }
                // Enough copies: the one still running gets the straggler grace to land too
                // (a copy more), then is given up (if it lands later, gc deletes it).
                if written.count >= wanted && running > 0 && !waitingForStragglers {
                    waitingForStragglers = true
                    group.addTask {
                        try? await Task.sleep(for: grace)
                        return Outcome(descriptor: nil)
                    }
                }
            }
            group.cancelAll()
            return (written, failures)
        }
        guard written.count >= wanted else {
            // What did land is deleted later by gc as an orphan.
            throw NuageError(.insufficientShards, "\(name) needs \(wanted) providers in distinct jurisdictions; "
                             + "written to \(written.count): \(failures.joined(separator: "; "))")
        }
        return written
    }
}

/// Serializes journal flushes: a caller waits for the flush in progress, then flushes what is
/// still pending (its own change included) unless another caller already did.
actor JournalFlusher {
    private var running: Task<Void, any Error>?

    func durable(_ engine: Engine) async throws {
        let target = try await engine.catalog.journalState().head
        while try await engine.catalog.journalState().durable < target {
            if let running {
                _ = try? await running.value
                continue
            }
            let task = Task { try await engine.flushJournal() }
            running = task
            defer { running = nil }
            try await task.value
        }
    }
}

/// A journal blob's bytes: `NUAGEJNL`, a format byte, then the sealed JSON (a segment's entries
/// or a snapshot), bound to the blob's name so that copies cannot be swapped between names.
struct JournalFile: Codable {
    static let magic = Array("NUAGEJNL".utf8)
    static let format: UInt8 = 1

    var entries: [JournalEntry]?
    var snapshot: CatalogSnapshot?

    init(entries: [JournalEntry]) { self.entries = entries }
    init(snapshot: CatalogSnapshot) { self.snapshot = snapshot }

    func sealed(name: String, with key: MasterKey) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dataEncodingStrategy = .base64
        return Self.magic + [Self.format] + (try key.sealJournal(Array(try encoder.encode(self)), context: Array(name.utf8)))
    }

    /// Opens a journal blob with whichever of `keys` sealed it.
    static func open(_ bytes: [UInt8], name: String, with keys: [MasterKey]) throws -> JournalFile {
        guard bytes.count > magic.count + 1, Array(bytes.prefix(magic.count)) == magic, bytes[magic.count] == format else {
            throw NuageError(.integrity, "\(name) is not a catalog journal blob")
        }
        let sealed = Array(bytes[(magic.count + 1)...])
        guard let plain = keys.lazy.compactMap({ try? $0.openJournal(sealed, context: Array(name.utf8)) }).first else {
            throw NuageError(.integrity, "\(name) does not open with any master key held (altered, or sealed under a retired key)")
        }
        do { return try JSONDecoder().decode(JournalFile.self, from: Data(plain)) } catch {
            throw NuageError(.integrity, "\(name) holds an unreadable journal", cause: error)
        }
    }
}
