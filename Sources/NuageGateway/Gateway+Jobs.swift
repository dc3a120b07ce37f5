import Foundation
import Logging
import Metrics
import NuageAudit
import NuageCore
import NuageEngine
import NuageServer
import Synchronization

extension Gateway {
    /// The background jobs: probe providers marked down (every 2 s), read the master keys again
    /// (5 s), write the catalog journal (5 s) and a snapshot (hourly), repair noted shards (30 s),
    /// drain providers marked draining and delete garbage that is due (every minute), sign and
    /// send audit checkpoints (every minute), apply buckets' lifecycle rules (hourly), abort expired
    /// multipart uploads and destroy KMS keys whose destruction is due (10 min), scrub lightly (daily) and deeply at 20 MB/s (weekly),
    /// and say when `nuage.toml` changes (5 s). Failures are logged with their cause and retried
    /// at the next run.
    public func jobs<C: Clock>(clock: C) -> [PeriodicService<C>] where C.Duration == Duration {
        let engine = engine, audit = audit, logger = logger, data = directory.path, settings = settings
        let activeKey = Mutex(engine.masterKey.id)
        let startDigest = configurationDigest(), configurationSaid = Mutex(false), gateway = self
        func job(_ name: String, every interval: Duration, first: Duration = .zero, _ work: @escaping @Sendable () async -> Void) -> PeriodicService<C> {
            PeriodicService(name, every: interval, first: first, clock: clock,
                            work: Self.gatewayJobs.contains(name) ? work : gateway.leased(name, every: interval, work))
        }
        return [
            job("probes", every: .seconds(2)) { await engine.probeProviders() },
            // A rotation made by `nuage keys rotate-master` while this gateway serves: new writes
            // use the new key within seconds, and a retired key is dropped.
            job("master-keys", every: .seconds(5)) {
                let before = activeKey.withLock { $0 }
                do { try engine.reloadKeys() } catch {
                    logger.error("reading the master keys again failed (the ones held stay in use)", metadata: ["error": "\(error)"])
                }
                let now = engine.masterKey.id
                if now != before {
                    activeKey.withLock { $0 = now }
                    logger.notice("a new master key is active", metadata: ["key": "\(String(format: "%08x", now))"])
                }
            },
            job("repair", every: .seconds(30)) {
                let report: Engine.RepairReport
                do { report = try await engine.repair() } catch {
                    logger.error("repair failed (retried in 30 s)", metadata: ["error": "\(error)"])
                    return
                }
                if report.repaired > 0 { logger.notice("repaired shards", metadata: ["shards": "\(report.repaired)"]) }
                // One line per run, not per shard: a provider that stays down would flood the log.
                if let first = report.failed.first {
                    logger.warning("repairs postponed", metadata: ["count": "\(report.failed.count)", "example": "\(first)"])
                }
            },
            job("drain", every: .seconds(60)) {
                // Providers marked draining are emptied in the background, one version at a time
                // and at a bounded rate, so that client traffic keeps priority.
                for provider in engine.placement.providers where provider.draining {
                    do {
                        let journal = Mutex<DrainJournal.Writer?>(nil)
                        let report = try await engine.drain(provider: provider.name, parallel: settings.drainParallel,
                                                            bytesPerSecond: settings.drainRate) { so in
                            journal.withLock { journal in
                                if journal == nil { journal = DrainJournal.Writer(data: data, provider: provider.name, runner: "nuage serve", logger: logger) }
                                journal?.update(so)
                            }
                            Gauge(label: "nuage_drain_moved_shards", dimensions: [("provider", provider.name)]).record(so.shards)
                            Gauge(label: "nuage_drain_written_bytes", dimensions: [("provider", provider.name)]).record(so.writtenBytes)
                        }
                        journal.withLock { $0?.finish(report) }
                        if report.shards > 0 || !report.failed.isEmpty {
                            do {
                                try await audit.append(AuditEntry(
                                    action: "provider.drain", actor: "serve", outcome: report.failed.isEmpty ? "ok" : "\(report.failed.count) not moved",
                                    detail: "\(provider.name): \(report.shards) shard(s) of \(report.versions) version(s) moved"))
                            } catch {
                                logger.error("the audit log could not record a drain", metadata: ["provider": "\(provider.name)", "error": "\(error)"])
                            }
                        }
                        if report.shards > 0 || !report.failed.isEmpty || !report.blobsLeft.isEmpty {
                            var metadata: Logger.Metadata = ["provider": "\(provider.name)", "shards": "\(report.shards)", "versions": "\(report.versions)"]
                            if let first = report.failed.first { metadata["failed"] = "\(report.failed.count)"; metadata["example"] = "\(first)" }
                            if !report.blobsLeft.isEmpty { metadata["left"] = "\(report.blobsLeft.joined(separator: "; "))" }
                            logger.notice("drain progress", metadata: metadata)
                        }
                    } catch {
                        logger.error("drain failed (retried in a minute)", metadata: ["provider": "\(provider.name)", "error": "\(error)"])
                    }
                }
            },
            job("garbage", every: .seconds(60)) {
                // Replaced versions' blobs once reads in progress are done with them.
                do {
                    let (deleted, failed) = try await engine.collectDueGarbage()
                    if failed > 0 { logger.warning("garbage blobs could not be deleted now; kept for the next run", metadata: ["failed": "\(failed)", "deleted": "\(deleted)"]) }
                } catch {
                    logger.error("collecting garbage failed", metadata: ["error": "\(error)"])
                }
            },
            // Scrubs find damage that reads never see (parity shards, cold objects); jittered so
            // that gateways sharing providers do not scrub at once.
            job("light-scrub", every: .seconds(86_400), first: .seconds(Int.random(in: 600...7200))) {
                await gateway.scrub(deep: false)
            },
            job("deep-scrub", every: .seconds(7 * 86_400), first: .seconds(Int.random(in: 3600...86_400))) {
                await gateway.scrub(deep: true)
            },
            // The catalog journal: changes made without a request waiting (repairs, drains,
            // another process) go out within seconds; a snapshot once 10,000 changes have
            // accumulated, and every hour when anything changed.
            job("journal", every: .seconds(5)) {
                do {
                    let state = try await engine.catalog.journalState()
                    if state.snapshot == 0 {
                        try await engine.snapshotCatalog()
                    } else if state.durable < state.head {
                        try await engine.journalDurable()
                    }
                    try await engine.compactJournal(threshold: 10_000)
                } catch {
                    logger.error("writing the catalog journal to providers failed (changes stay pending)", metadata: ["error": "\(error)"])
                }
            },
            job("journal-snapshot", every: .seconds(3600), first: .seconds(3600)) {
                do { try await engine.compactJournal(threshold: 1) } catch {
                    logger.error("writing a catalog snapshot to providers failed", metadata: ["error": "\(error)"])
                }
            },
            job("audit-checkpoints", every: .seconds(60), first: .seconds(60)) {
                do { try await AuditTrail.checkpointAndShip(audit, engine) } catch {
                    logger.error("signing or sending an audit checkpoint failed (retried in a minute)", metadata: ["error": "\(error)"])
                }
            },
            // KMS keys whose scheduled destruction is due (logged and audited by id, never by name).
            job("kms-destructions", every: .seconds(600)) {
                do {
                    for destruction in try await engine.destroyDueKMSKeys() {
                        var metadata: Logger.Metadata = ["key-id": "\(destruction.key.id.hex)"]
                        if !destruction.problems.isEmpty { metadata["problems"] = "\(destruction.problems.joined(separator: "; "))" }
                        logger.notice("destroyed a KMS key as scheduled: its objects are crypto-shredded", metadata: metadata)
                        do {
                            try await audit.append(AuditEntry(action: "kms.destroy", actor: "serve", detail: "key id \(destruction.key.id.hex), as scheduled"))
                        } catch {
                            logger.error("the audit log could not record a KMS key's destruction", metadata: ["key-id": "\(destruction.key.id.hex)", "error": "\(error)"])
                        }
                    }
                } catch {
                    logger.error("destroying due KMS keys failed (retried in 10 minutes)", metadata: ["error": "\(error)"])
                }
            },
            // Lifecycle rules: hourly, or every second when the test setting shortens the day.
            job("lifecycle", every: .milliseconds(Int64(max(1, min(3600, settings.server.lifecycleDay / 24)) * 1000))) {
                await gateway.expireByLifecycle()
            },
            job("upload-expiry", every: .seconds(600)) {
                do {
                    let expired = try await engine.expireUploads(olderThan: .seconds(settings.uploadExpiryHours * 3600))
                    if expired > 0 { logger.notice("aborted expired multipart uploads", metadata: ["count": "\(expired)", "hours": "\(settings.uploadExpiryHours)"]) }
                } catch {
                    logger.error("expiring multipart uploads failed", metadata: ["error": "\(error)"])
                }
            },
            // nuage.toml is read at start only: say so when it changes.
            job("configuration-watch", every: .seconds(5), first: .seconds(5)) {
                guard !configurationSaid.withLock({ $0 }), gateway.configurationDigest() != startDigest else { return }
                configurationSaid.withLock { $0 = true }
                logger.warning("nuage.toml changed; this gateway keeps the configuration it started with: restart nuage serve to apply it",
                               metadata: ["path": "\(gateway.directory.configurationPath)"])
            },
        ]
    }

    /// Jobs every gateway runs for itself; every other job runs once across the gateways that
    /// share the catalog, under its lease.
    static let gatewayJobs: Set<String> = ["probes", "master-keys", "audit-checkpoints", "configuration-watch"]

    /// `work`, run only while this gateway holds the job's lease: claimed (or renewed) for
    /// `max(interval, 30 s)` before each run, renewed every third of that while it runs. Another
    /// gateway takes the job over once the holder stops renewing (it stopped, or was killed), within
    /// the lease time; what a killed run did stays done (every job is resumable).
    func leased(_ name: String, every interval: Duration, _ work: @escaping @Sendable () async -> Void) -> @Sendable () async -> Void {
        let lease = max(interval, Self.minimumLease), catalog = engine.catalog, holder = instance, logger = logger
        @Sendable func claim() async -> Bool {
            let now = Date()
            do { return try await catalog.claimLease(name, holder: holder, now: now, until: now.addingTimeInterval(lease.inSeconds)) } catch {
                logger.error("could not claim a background job's lease (the job waits for its next run)", metadata: ["job": "\(name)", "error": "\(error)"])
                Counter(label: "nuage_lease_failures_total", dimensions: [("job", name)]).increment()
                return false
            }
        }
        return {
            guard await claim() else { return }  // another gateway runs it
            // The run and its heartbeat: whichever ends first ends the other (a lost lease
            // cancels the run, which another gateway now owns).
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await work() }
                group.addTask {
                    while true {
                        do { try await Task.sleep(for: lease / 3) } catch { return }
                        guard await claim() else {
                            logger.warning("a background job's lease was lost while it ran: the run stops", metadata: ["job": "\(name)"])
                            return
                        }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }

    static let minimumLease: Duration = .seconds(30)

    func expireByLifecycle() async {
        let report: S3Server.LifecycleReport
        do { report = try await server().expireByLifecycle() } catch {
            logger.error("lifecycle expiry failed (retried at the next run)", metadata: ["error": "\(error)"])
            return
        }
        for (bucket, key, rule) in report.expired {
            await recordAudit(AuditEntry(action: "lifecycle.expire", actor: "serve", detail: "\(bucket)/\(key) by rule \(rule)"))
        }
        for (bucket, key, version, rule) in report.removedVersions {
            await recordAudit(AuditEntry(action: "lifecycle.remove-version", actor: "serve", detail: "\(bucket)/\(key) version \(version) by rule \(rule)"))
        }
        for (bucket, key, upload, rule) in report.aborted {
            await recordAudit(AuditEntry(action: "lifecycle.abort-upload", actor: "serve", detail: "\(bucket)/\(key) upload \(upload) by rule \(rule)"))
        }
        if !report.expired.isEmpty || !report.aborted.isEmpty || !report.removedVersions.isEmpty {
            logger.notice("lifecycle rules applied", metadata: ["expired": "\(report.expired.count)", "aborted-uploads": "\(report.aborted.count)",
                                                                "removed-versions": "\(report.removedVersions.count)"])
        }
        if let first = report.failed.first {
            logger.warning("lifecycle expiry left some for the next run", metadata: ["count": "\(report.failed.count)", "example": "\(first)"])
            Counter(label: "nuage_lifecycle_failures_total").increment(by: report.failed.count)
        }
    }

    private func recordAudit(_ entry: AuditEntry) async {
        do { try await audit.append(entry) } catch {
            logger.error("the audit log could not record a lifecycle change", metadata: ["action": "\(entry.action)", "error": "\(error)"])
        }
    }

    func scrub(deep: Bool) async {
        let kind = deep ? "deep" : "light"
        do {
            let report = try await engine.scrub(deep: deep, bytesPerSecond: deep ? 20_000_000 : nil)
            figures.noteScrub(report, at: Date())
            Gauge(label: "nuage_scrub_checked_shards", dimensions: [("scrub", kind)]).record(report.shards)
            Gauge(label: "nuage_scrub_damaged_shards", dimensions: [("scrub", kind)]).record(report.damaged.count)
            Gauge(label: "nuage_scrub_last_completion_timestamp_seconds", dimensions: [("scrub", kind)]).record(Date().timeIntervalSince1970)
            if let first = report.damaged.first {
                logger.warning("scrub found damaged shards, noted for repair", metadata: ["scrub": "\(kind)", "count": "\(report.damaged.count)", "example": "\(first)"])
            }
            if let first = report.unchecked.first {
                logger.warning("scrub could not check everything", metadata: ["scrub": "\(kind)", "count": "\(report.unchecked.count)", "example": "\(first)"])
            }
        } catch {
            logger.error("scrub failed", metadata: ["scrub": "\(kind)", "error": "\(error)"])
        }
    }
}
