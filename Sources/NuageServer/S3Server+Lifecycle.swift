import Foundation
import Hummingbird
import HTTPTypes
import Logging
import Metrics
import NuageCatalog
import NuageCore
import NuageEngine

/// Lifecycle rules: Get/Put/DeleteBucketLifecycleConfiguration, `x-amz-expiration` on writes
/// and reads, and the expiry that `nuage serve` runs in the background (`expireByLifecycle`).
extension S3Server {
    func bucketLifecycle(_ bucket: String) async throws -> Response {
        guard let record = try await engine.catalog.bucket(bucket) else { throw S3Error(.noSuchBucket) }
        guard let stored = record.lifecycle else { throw S3Error(.noSuchLifecycleConfiguration, details: [("BucketName", bucket)]) }
        return Self.xmlResponse(try LifecycleConfiguration(stored: stored).xml())
    }

    func putBucketLifecycle(_ bucket: String, _ request: Request) async throws -> Response {
        try await changeBucket(bucket) { record in
            record.lifecycle = try LifecycleConfiguration(xml: try await xmlBody(request, root: "LifecycleConfiguration")).stored
        }
        return Response(status: .ok, headers: [.contentLength: "0"])
    }

    func deleteBucketLifecycle(_ bucket: String) async throws -> Response {
        try await changeBucket(bucket) { $0.lifecycle = nil }
        return Response(status: .noContent)
    }

    /// Adds `x-amz-expiration` when a rule of the bucket (`record`) will expire `object`.
    func addExpiration(_ object: ObjectRecord, bucket record: BucketRecord?, to fields: inout HTTPFields) async {
        guard let stored = record?.lifecycle else { return }
        let rules = await engine.tolerating("read the lifecycle rules of a bucket", metadata: ["bucket": "\(object.bucket)"]) {
            try LifecycleConfiguration(stored: stored)
        }
        guard let expiry = rules?.expiry(of: object, day: options.lifecycleDay) else { return }
        fields[HTTPField.Name("x-amz-expiration")!] = LifecycleConfiguration.header(expiry)
    }

    /// What one run of lifecycle expiry did.
    public struct LifecycleReport: Sendable {
        /// (bucket, key, rule id) of each object expired (in a versioned bucket: hidden behind a delete marker).
        public var expired: [(bucket: String, key: String, rule: String)] = []
        /// (bucket, key, version id, rule id) of each noncurrent version or delete marker removed.
        public var removedVersions: [(bucket: String, key: String, version: String, rule: String)] = []
        /// (bucket, key, upload id, rule id) of each upload aborted.
        public var aborted: [(bucket: String, key: String, upload: String, rule: String)] = []
        /// What could not be done now (tried again at the next run).
        public var failed: [String] = []
    }

    /// Expires the objects and aborts the uploads that the buckets' enabled rules make due at
    /// `options.now()`, through the clients' delete path. An object is deleted only if it is
    /// still the version the rule judged, so a write that lands meanwhile is kept.
    public func expireByLifecycle() async throws -> LifecycleReport {
        var report = LifecycleReport()
        let now = options.now(), day = options.lifecycleDay
        for bucket in try await engine.listBuckets() {
            guard let stored = bucket.lifecycle else { continue }
            let rules: LifecycleConfiguration
            do { rules = try LifecycleConfiguration(stored: stored) } catch {
                report.failed.append("\(bucket.name): \(error)")
                continue
            }
            var after: String?
            while true {
                let page = try await engine.catalog.listObjects(bucket: bucket.name, prefix: "", after: after, limit: 1000)
                var due: [String: (version: [UInt8], rule: String)] = [:]
                for object in page {
                    if let expiry = rules.expiry(of: object, day: day), expiry.date <= now { due[object.key] = (object.versionID, expiry.rule) }
                }
                if !due.isEmpty {
                    let failed = try await engine.delete(bucket: bucket.name, keys: due.keys.sorted(), ifVersions: due.mapValues(\.version))
                    for (key, value) in due.sorted(by: { $0.key < $1.key }) {
                        if let error = failed[key] { report.failed.append("\(bucket.name)/\(key): \(error)") } else {
                            report.expired.append((bucket.name, key, value.rule))
                        }
                    }
                }
                guard page.count == 1000, let last = page.last else { break }
                after = last.key
            }
            if bucket.versioning != nil && rules.actsOnVersions {
                try await removeVersions(of: bucket.name, by: rules, now: now, day: day, into: &report)
            }
            var uploadsAfter: (key: String, id: String?)?
            while true {
                let uploads = try await engine.listUploads(bucket: bucket.name, after: uploadsAfter)
                for upload in uploads {
                    guard let abort = rules.abortDate(key: upload.key, created: upload.created, day: day), abort.date <= now else { continue }
                    do {
                        try await engine.abortUpload(uploadID: upload.id, bucket: bucket.name, key: upload.key)
                        report.aborted.append((bucket.name, upload.key, upload.id, abort.rule))
                    } catch let error as NuageError where error.code == .noSuchUpload {
                        continue  // completed or aborted meanwhile
                    } catch {
                        report.failed.append("\(bucket.name)/\(upload.key) upload \(upload.id): \(error)")
                    }
                }
                guard uploads.count == 1000, let last = uploads.last else { break }
                uploadsAfter = (last.key, last.id)
            }
        }
        if !report.expired.isEmpty { Counter(label: "nuage_lifecycle_expired_objects_total").increment(by: report.expired.count) }
        if !report.removedVersions.isEmpty { Counter(label: "nuage_lifecycle_removed_versions_total").increment(by: report.removedVersions.count) }
        if !report.aborted.isEmpty { Counter(label: "nuage_lifecycle_aborted_uploads_total").increment(by: report.aborted.count) }
        return report
    }

    /// Removes the noncurrent versions and lone delete markers the rules make due, key by key.
    /// Object Lock holds as for any client: a locked version stays (reported as failed, tried again).
    private func removeVersions(of bucket: String, by rules: LifecycleConfiguration, now: Date, day: Double,
                                into report: inout LifecycleReport) async throws {
        var after: (key: String, versionID: [UInt8]?)?, group: [ObjectRecord] = []
        func flush() async throws {
            let due = rules.removals(of: group, now: now, day: day)
            group = []
            guard !due.isEmpty else { return }
            let requests = due.map { DeleteRequest(key: $0.version.key, version: $0.version.versioned ? .id($0.version.versionID) : .null) }
            for (entry, outcome) in zip(due, try await engine.delete(bucket: bucket, requests)) {
                switch outcome {
                case .success: report.removedVersions.append((bucket, entry.version.key, entry.version.s3VersionID, entry.rule))
                case .failure(let error): report.failed.append("\(bucket)/\(entry.version.key) version \(entry.version.s3VersionID): \(error)")
                }
            }
        }
        while true {
            let page = try await engine.catalog.listVersions(bucket: bucket, prefix: "", after: after, limit: 1000)
            for entry in page {
                if let first = group.first, first.key != entry.record.key { try await flush() }
                group.append(entry.record)
            }
            guard page.count == 1000, let last = page.last else { break }
            after = (last.record.key, last.record.versionID)
        }
        try await flush()
    }
}
