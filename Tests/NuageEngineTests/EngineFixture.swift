import Foundation
import NuageCatalog
import NuageCore
import NuageCrypto
@testable import NuageEngine
import NuageProviders
import NuageTestSupport

/// An engine over real directory providers and a real catalog: SQLite in a temporary directory,
/// or a new PostgreSQL database with `NUAGE_TEST_CATALOG=postgres` (``TestCatalog``).
struct EngineFixture {
    let root: String
    let engine: Engine
    let providerRoots: [String: String]
    /// Each provider's fault switch (no fault unless a test sets one).
    let faults: [String: FaultInjectingProvider]

    /// Providers named by country code, each located and operated there unless `operators` says otherwise.
    static let sixCountries = ["US", "CA", "DE", "FR", "CH", "JP"]

    /// How long a healthy provider may go without progress here: the tests share 2 cores and a
    /// disk with each other and, in CI, with other jobs (under a CPU hog a healthy put went more
    /// than 2 s without progress). Tests of faults set their timeouts to this, so that only an
    /// injected fault trips them.
    static let patience: Duration = .seconds(6)

    /// A long straggler grace by default: a healthy provider slowed by a loaded machine is not
    /// given up (tests of stragglers set it short).
    ///
    /// - Parameter onTmpfs: keep the providers and catalog on `/dev/shm` when it has room, for
    ///   tests with short timeouts: on a shared disk an `fsync` can wait behind another job's
    ///   writes (a `dd` elsewhere held every put of the chaos tests for over 6 s).
    init(countries: [String] = sixCountries, operators: [String: String] = [:], policy: PlacementPolicy? = nil,
         segmentSize: Int = 4096, packLimit: Int = defaultPackLimit, resilience: Resilience? = nil, stragglerGrace: Duration = .seconds(30), deleteDelay: Duration = .zero,
         onTmpfs: Bool = false, time: TimeSource = .continuous, wrap: (String, any Provider) -> any Provider = { $1 }) async throws {
        let root = ((onTmpfs ? Self.tmpfs : nil) ?? NSTemporaryDirectory()) + "nuage-engine-\(UUID().uuidString)"
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var roots: [String: String] = [:]
        var faults: [String: FaultInjectingProvider] = [:]
        let entries = try countries.enumerated().map { index, country in
            let name = "\(country.lowercased())-\(index)"
            let path = "\(root)/providers/\(name)"
            roots[name] = path
            let descriptor = ProviderDescriptor(name: name, kind: "directory", jurisdiction: try Jurisdiction(country),
                                                operatorName: "Operator \(index)",
                                                operatorJurisdiction: try Jurisdiction(operators[name] ?? country))
            let faulty = FaultInjectingProvider(wrap(name, try DirectoryProvider(name: name, root: path)))
            faults[name] = faulty
            guard let resilience else { return Engine.ProviderEntry(descriptor: descriptor, provider: faulty) }
            let (provider, health) = resilience.wrap(faulty)
            return Engine.ProviderEntry(descriptor: descriptor, provider: provider, health: health)
        }
        providerRoots = roots
        self.faults = faults
        engine = try Engine(catalog: try await TestCatalog.fresh(in: root), providers: entries,
                            policy: try policy ?? PlacementPolicy(), masterKey: try MasterKey(bytes: .random(count: 32)),
                            segmentSize: segmentSize, packLimit: packLimit, stragglerGrace: stragglerGrace, deleteDelay: deleteDelay,
                            time: time)
    }

    /// No packs unless a test asks, or `NUAGE_TEST_PACK_LIMIT` sets a limit for every fixture
    /// (to run the whole suite with small objects in packs).
    static let defaultPackLimit = ProcessInfo.processInfo.environment["NUAGE_TEST_PACK_LIMIT"].flatMap(Int.init) ?? 0

    /// `/dev/shm/` (memory on Linux) if it is writable and has at least 1 GiB free.
    static let tmpfs: String? = {
        var info = statvfs()
        guard statvfs("/dev/shm", &info) == 0, access("/dev/shm", W_OK) == 0,
              UInt64(info.f_bavail) * UInt64(info.f_frsize) >= 1 << 30 else { return nil }
        return "/dev/shm/"
    }()

    func cleanUp() { try? FileManager.default.removeItem(atPath: root) }

    /// Another engine over the same providers and settings: with another catalog (a recovery's)
    /// or other master keys (a rotation's).
    func engine(catalog: (any Catalog)? = nil, masterKey: MasterKey? = nil, olderKeys: [MasterKey] = []) throws -> Engine {
        let entries = engine.placement.providers.map {
            Engine.ProviderEntry(descriptor: $0, provider: engine.providers[$0.name]!, health: engine.health[$0.name])
        }
        return try Engine(catalog: catalog ?? engine.catalog, providers: entries, policy: engine.placement.policy,
                          masterKey: masterKey ?? engine.masterKey, olderKeys: olderKeys, segmentSize: engine.segmentSize, packLimit: engine.packLimit,
                          stragglerGrace: engine.stragglerGrace, deleteDelay: engine.deleteDelay)
    }

    /// Every shard blob file under the provider directories (the catalog journal's blobs, `j-…`
    /// and `s-…`, are left out: see ``journalFiles()``).
    func providerFiles() -> [String] {
        allProviderFiles().filter { file in
            let name = (file as NSString).lastPathComponent
            return !name.hasPrefix(Engine.segmentPrefix) && !name.hasPrefix(Engine.snapshotPrefix) && !name.hasPrefix(Engine.auditPrefix)
        }
    }

    /// The catalog journal's segment and snapshot files.
    func journalFiles() -> [String] {
        Set(allProviderFiles()).subtracting(providerFiles()).sorted()
    }

    /// Every regular file under the provider directories.
    func allProviderFiles() -> [String] {
        let base = "\(root)/providers"
        guard let walker = FileManager.default.enumerator(atPath: base) else { return [] }
        var files: [String] = []
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(base)/\(relative)", isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append("\(base)/\(relative)")
            }
        }
        return files
    }

    /// Where a shard blob of a version lives on disk.
    func path(of ref: BlobRef) -> String {
        "\(providerRoots[ref.provider]!)/\(ref.blob.prefix(2))/\(ref.blob)"
    }
}

/// Deterministic bytes.
func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        out[i] = UInt8(truncatingIfNeeded: state >> 29)
    }
    return out
}

/// A provider that fails every write: a provider that is down or refuses credentials.
struct RefusingProvider: Provider {
    let inner: any Provider
    var name: String { inner.name }
    func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws where Body.Element == ByteBlock {
        throw ProviderError(.unavailable, provider: name, "connection refused (injected)")
    }
    func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock { try await inner.get(blob, range: range) }
    func head(_ blob: String) async throws -> BlobInfo { try await inner.head(blob) }
    func delete(_ blob: String) async throws { try await inner.delete(blob) }
    func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        try await inner.list(prefix: prefix, after: after, limit: limit)
    }
    func removeAbandonedWrites(olderThan age: Duration) async throws -> Int {
        try await inner.removeAbandonedWrites(olderThan: age)
    }
}

/// A body that delivers `count` bytes and then fails, like a client that disconnects.
struct FailingBody: ObjectBody {
    struct Disconnected: Error {}
    let inner: BytesBody
    let failAfter: Int
    let served = Counter()
    init(_ bytes: [UInt8], failAfter: Int) {
        inner = BytesBody(bytes)
        self.failAfter = failAfter
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        let allowed = failAfter - served.value
        guard allowed > 0 else { throw Disconnected() }
        let n = try await inner.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(allowed)))
        served.add(n)
        return n
    }
}

import Synchronization
final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func add(_ n: Int) { count.withLock { $0 += n } }
}
