import ArgumentParser
import Foundation
import NuageCatalog
import NuageConfig
import NuageCore

/// `nuage bench catalog`: what the catalog costs one request, in the embedded SQLite file or in
/// PostgreSQL: commits (intent then commit, as a PUT makes them), heads and 1,000-key listings
/// per second with 1 and 16 concurrent clients, with p50 and p99 latencies; then listing a large
/// bucket page by page, to show whether pages get slower as the listing goes.
struct CatalogBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Catalog commits, heads and 1,000-key listings per second (1 and 16 clients), and paging through a large bucket.")
    @Option(help: "sqlite (a file in a temporary directory) or postgres (an empty database at --url).") var catalog = "sqlite"
    @Option(help: "postgres://USER@HOST[:PORT]/DATABASE, an empty database (with --catalog postgres).") var url: String?
    @Option(help: "The variable holding the database password.") var passwordEnv: String?
    @Option(help: "Operations per client in each phase.") var operations = 2000
    @Option(help: "Objects in the bucket that is listed page by page.") var objects = 1_000_000
    @Flag var json = false

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nuage-bench-catalog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store: any Catalog
        switch catalog {
        case "sqlite": store = try SQLiteCatalog(path: directory + "/catalog.sqlite")
        case "postgres":
            guard let url else { throw ValidationError("--catalog postgres needs --url") }
            store = try await DataDirectory(path: directory).openCatalog(.postgres(url: url, passwordEnv: passwordEnv, passwordFile: nil))
        default: throw ValidationError("--catalog is sqlite or postgres")
        }
        // The large bucket first, in one restore (not measured): restore fills only an empty catalog.
        let filling = ContinuousClock.now
        try await store.restore(CatalogSnapshot(seq: 0, buckets: [BucketRecord(name: "big", created: Date())],
                                                objects: (0..<objects).map { Self.record(key: String(format: "obj/%09d", $0), tag: "b\($0)", bucket: "big") },
                                                accessKeys: []), blobs: [])
        if !json { print(String(format: "%@: %d objects restored into one bucket in %.1f s", catalog, objects, (ContinuousClock.now - filling).inSeconds)) }
        try await store.createBucket("bench")
        var results: [[String: Any]] = []
        func report(_ phase: String, clients: Int, _ latencies: [Duration], seconds: Double) {
            let sorted = latencies.sorted()
            let ms = { (q: Double) in sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))].inSeconds * 1000 }
            let rate = Double(latencies.count) / seconds
            results.append(["phase": phase, "clients": clients, "per_second": rate, "p50_ms": ms(0.5), "p99_ms": ms(0.99)])
            if !json { print(String(format: "%@ %@, %2d client(s): %8.0f/s, p50 %.3f ms, p99 %.3f ms", catalog, phase, clients, rate, ms(0.5), ms(0.99))) }
        }
        for clients in [1, 16] {
            for phase in ["commit", "head", "list"] {
                let start = ContinuousClock.now
                let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
                    for client in 0..<clients {
                        group.addTask {
                            var times: [Duration] = []
                            for i in 0..<operations {
                                let key = "c\(clients)-\(client)/k\(i % 1000)"
                                let began = ContinuousClock.now
                                switch phase {
                                case "commit":
                                    let record = Self.record(key: key, tag: "\(clients)-\(client)-\(i)")
                                    let intent = WriteIntent(id: UUID().uuidString, created: Date(), blobs: record.blobs)
                                    try await store.recordIntent(intent)
                                    try await store.commit(record, intent: intent.id, expectedVersion: nil)
                                case "head": _ = try await store.object(bucket: "bench", key: key)
                                default: _ = try await store.listObjects(bucket: "bench", prefix: "c\(clients)-\(client)/", after: nil, limit: 1000)
                                }
                                times.append(ContinuousClock.now - began)
                            }
                            return times
                        }
                    }
                    return try await group.reduce(into: [Duration]()) { $0 += $1 }
                }
                report(phase, clients: clients, latencies, seconds: (ContinuousClock.now - start).inSeconds)
            }
        }
        try await paging(store, into: &results)
        if json { printJSON(["catalog": catalog, "results": results]) }
    }

    /// Lists the bucket `big` (filled before the other phases) in pages of 1,000, reporting the
    /// median page latency of the first, middle and last tenth of the listing.
    func paging(_ store: any Catalog, into results: inout [[String: Any]]) async throws {
        var pages: [Duration] = [], after: String?
        while true {
            let began = ContinuousClock.now
            let page = try await store.listObjects(bucket: "big", prefix: "", after: after, limit: 1000)
            pages.append(ContinuousClock.now - began)
            guard page.count == 1000, let last = page.last else { break }
            after = last.key
        }
        let tenth = max(1, pages.count / 10)
        func median(_ slice: ArraySlice<Duration>) -> Double { slice.sorted()[slice.count / 2].inSeconds * 1000 }
        let first = median(pages.prefix(tenth)), middle = median(pages.dropFirst(max(0, pages.count / 2 - tenth / 2)).prefix(tenth))
        let last = median(pages.suffix(tenth))
        results.append(["phase": "list-pages", "objects": objects, "pages": pages.count, "first_ms": first, "middle_ms": middle, "last_ms": last])
        if !json {
            print(String(format: "%@ listing %d objects in %d pages of 1,000: median page %.2f ms in the first tenth, %.2f ms in the middle, %.2f ms in the last",
                         catalog, objects, pages.count, first, middle, last))
        }
    }

    static func record(key: String, tag: String, bucket: String = "bench") -> ObjectRecord {
        let version = Array(tag.utf8.prefix(16)) + [UInt8](repeating: 0, count: max(0, 16 - tag.utf8.count))
        let manifest = Manifest(format: 2, versionID: version, size: 4096, segmentSize: 1 << 20, dataShards: 4, parityShards: 2, keyID: 1,
                                wrappedKey: [UInt8](repeating: 7, count: 60),
                                shards: (0..<6).map { BlobRef(provider: "p\($0)", blob: "\(tag)-\($0)") })
        return ObjectRecord(bucket: bucket, key: key, size: 4096, etag: "0123456789abcdef0123456789abcdef", modified: Date(),
                            metadata: ["content-type": "application/octet-stream"], manifest: manifest)
    }
}
