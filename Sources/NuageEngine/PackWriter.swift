import Foundation
import NuageCatalog
import NuageCore
import NuageProviders
import Synchronization

/// Writes the shard blobs of small objects together (group commit): the shard blobs that puts
/// hand in while a batch is being written form the next batch, and the ones a batch sends to one
/// provider go out as one blob, a *pack*. A batch costs each provider one blob (one file, one
/// fsync, one request) however many objects it holds; a put that finds no batch running starts
/// one at once, so nothing waits on a timer (docs/FORMAT.md, "Packs").
final class PackWriter: Sendable {
    /// One put's shard blobs, each whole (header and records), and where each goes.
    struct Member: Sendable {
        var blobs: [[ByteBlock]]
        var providers: [String]
        /// The length of each shard blob (all have the same).
        var length: Int64
    }

    /// What a put gets back: where its shards landed, under which pack intent.
    struct Written: Sendable {
        /// Shard `i`'s piece, or nil when its pack did not land.
        var pieces: [BlobRef?]
        /// Why the shards that did not land failed, by shard index.
        var failures: [Int: any Error]
        /// The pack intent the put commits under; it stays until every put of the batch is done.
        var ticket: PackTicket.Share
    }

    private struct Waiting: Sendable {
        var member: Member
        var continuation: CheckedContinuation<Written, any Error>
    }

    /// A batch holds at most this many bytes of shard blobs (one put is always taken whole).
    static let batchBytes: Int64 = 32 << 20

    private let state = Mutex<(waiting: [Waiting], running: Bool, writing: Int)>(([], false, 0))

    /// Puts handed in and not yet answered: in the batch being written or waiting for the next.
    var pending: Int { state.withLock { $0.waiting.count + $0.writing } }

    /// Hands a put's shard blobs in; returns once its batch is written (every pack landed,
    /// failed, or was given up after the straggler grace once every put had its write quorum).
    func write(_ member: Member, engine: Engine) async throws -> Written {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state in
                state.waiting.append(Waiting(member: member, continuation: continuation))
                defer { state.running = true }
                return !state.running
            }
            if start { Task { await self.run(engine) } }
        }
    }

    /// Writes batches until none is waiting.
    private func run(_ engine: Engine) async {
        while true {
            let batch = state.withLock { state -> [Waiting] in
                var bytes: Int64 = 0, taken = 0
                for waiting in state.waiting {
                    let size = waiting.member.length * Int64(waiting.member.blobs.count)
                    guard taken == 0 || bytes + size <= Self.batchBytes else { break }
                    bytes += size
                    taken += 1
                }
                let batch = Array(state.waiting.prefix(taken))
                state.waiting.removeFirst(taken)
                state.writing = taken
                if batch.isEmpty { state.running = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let written = try await engine.writePacks(batch.map(\.member))
                for (waiting, result) in zip(batch, written) { waiting.continuation.resume(returning: result) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
    }
}

/// The puts of one batch that have yet to commit or give up: once none has, the batch's pack
/// intent is abandoned, which lists the packs no committed version keeps for deletion.
/// Packs no version ever kept a piece of (those that did not land, or all of them when no put
/// of the batch committed) are deleted at once, as a failed put's blobs are.
final class PackTicket: Sendable {
    let intent: String
    private let packs: [BlobRef]
    private let failed: [BlobRef]
    private let state: Mutex<(left: Int, committed: Bool)>
    private let engine: Engine

    init(intent: String, members: Int, packs: [BlobRef], failed: [BlobRef], engine: Engine) {
        self.intent = intent
        self.packs = packs
        self.failed = failed
        state = Mutex((members, false))
        self.engine = engine
    }

    /// One put is done with the batch; called once per put, by its ``Share``. The last one
    /// ends the batch.
    fileprivate func release(committed: Bool) async {
        let (last, anyCommitted) = state.withLock { state in
            state.left -= 1
            state.committed = state.committed || committed
            return (state.left == 0, state.committed)
        }
        guard last else { return }
        let closed = await engine.tolerating("close a batch of packs (gc closes it after its grace period)") {
            try await engine.catalog.abandonIntent(intent)
        }
        if closed != nil { await engine.collectPromptly(anyCommitted ? failed : packs) }
    }

    /// One put's share of the ticket: released once, whatever happens to the put.
    final class Share: Sendable {
        let ticket: PackTicket
        private let released = Mutex(false)
        init(_ ticket: PackTicket) { self.ticket = ticket }
        var intent: String { ticket.intent }
        /// Once the put committed or gave up; the last put of the batch ends it before returning.
        func release(committed: Bool) async {
            guard released.withLock({ released in defer { released = true }; return !released }) else { return }
            await ticket.release(committed: committed)
        }
        /// A put that failed without releasing its share (an error thrown on the way) still does.
        deinit {
            guard released.withLock({ !$0 }) else { return }
            let ticket = ticket
            Task { await ticket.release(committed: false) }
        }
    }
}

extension Engine {
    /// Writes one batch: a pack per provider under one pack intent, all providers at once.
    /// - Returns: each member's pieces, in order.
    /// - Throws: when the pack intent cannot be recorded (nothing was written).
    func writePacks(_ members: [PackWriter.Member]) async throws -> [PackWriter.Written] {
        // Pieces by provider, in member order: where each shard blob goes in its pack.
        var packs: [String: (name: String, blocks: [ByteBlock], length: Int64)] = [:]
        var places: [[(provider: String, offset: Int64)]] = []
        for member in members {
            var place: [(provider: String, offset: Int64)] = []
            for (blocks, provider) in zip(member.blobs, member.providers) {
                if packs[provider] == nil { packs[provider] = ([UInt8].random(count: 16).hex, [], 0) }
                // In place: a copy taken out of the dictionary would copy the pack's block list each time.
                place.append((provider, packs[provider]!.length))
                packs[provider]!.blocks += blocks
                packs[provider]!.length += member.length
            }
            places.append(place)
        }
        let intent = WriteIntent(id: WriteIntent.packPrefix + [UInt8].random(count: 16).hex, created: Date(),
                                 blobs: packs.sorted { $0.key < $1.key }.map { BlobRef(provider: $0.key, blob: $0.value.name) })
        try await catalog.recordIntent(intent)

        // Every pack at once; once every member has its write quorum, the rest get the grace.
        let quorum = placement.policy.writeQuorum, grace = stragglerGrace, time = time
        var failed: [String: any Error] = [:]
        await withTaskGroup(of: (String, (any Error)?)?.self) { group in
            for (provider, pack) in packs {
                group.addTask {
                    do {
                        try await self.provider(named: provider).put(pack.name, length: pack.length, body: pack.blocks.async)
                        return (provider, nil)
                    } catch {
                        return (provider, error)
                    }
                }
            }
            var landed: Set<String> = [], timerStarted = false
            while landed.count + failed.count < packs.count, let next = await group.next() {
                guard let (provider, error) = next else {
                    for provider in packs.keys where !landed.contains(provider) && failed[provider] == nil {
                        failed[provider] = ProviderError(.unavailable, provider: provider,
                                                         "put \(packs[provider]!.name): still writing \(grace) after every put of the batch had its write quorum")
                    }
                    break
                }
                if let error { failed[provider] = error } else { landed.insert(provider) }
                let allHaveQuorum = places.allSatisfy { place in place.filter { landed.contains($0.provider) }.count >= quorum }
                if !timerStarted, landed.count + failed.count < packs.count, allHaveQuorum {
                    timerStarted = true
                    group.addTask { try? await time.sleep(grace); return nil }
                }
            }
            group.cancelAll()
        }
        let ticket = PackTicket(intent: intent.id, members: members.count, packs: intent.blobs,
                                failed: failed.keys.sorted().map { BlobRef(provider: $0, blob: packs[$0]!.name) }, engine: self)
        return zip(members, places).map { member, place in
            var pieces: [BlobRef?] = [], failures: [Int: any Error] = [:]
            for (index, (provider, offset)) in place.enumerated() {
                if let error = failed[provider] {
                    pieces.append(nil)
                    failures[index] = error
                } else {
                    pieces.append(BlobRef(provider: provider, pack: packs[provider]!.name, offset: offset, length: member.length))
                }
            }
            return PackWriter.Written(pieces: pieces, failures: failures, ticket: PackTicket.Share(ticket))
        }
    }
}
