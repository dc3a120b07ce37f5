import NuageCatalog
import NuageCore

extension Engine {
    /// What the catalog says is stored where: shard blobs and their bytes per provider, and
    /// objects missing a shard. Read from the catalog alone (no provider is contacted).
    public struct Inventory: Sendable, Hashable {
        public struct Usage: Sendable, Hashable {
            public var blobs = 0
            public var bytes: Int64 = 0
            public init() {}
        }
        /// By provider name (those the catalog names, configured or not).
        public var providers: [String: Usage] = [:]
        public var objects = 0
        /// Objects with a shard of some part never written or on a provider no longer configured.
        public var objectsBelowFullRedundancy = 0
    }

    public func inventory() async throws -> Inventory {
        var inventory = Inventory()
        let configured = Set(placement.providers.map(\.name))
        try await forEachVersionPage { page in
            for record in page {
                inventory.objects += 1
                var belowFull = false
                for manifest in record.parts {
                    let length = ShardLayout(size: manifest.size, segmentSize: manifest.segmentSize, dataShards: manifest.dataShards).blobLength
                    for ref in manifest.shards {
                        guard let ref else { belowFull = true; continue }
                        if !configured.contains(ref.provider) { belowFull = true }
                        inventory.providers[ref.provider, default: .init()].blobs += 1
                        inventory.providers[ref.provider, default: .init()].bytes += length
                    }
                }
                if belowFull { inventory.objectsBelowFullRedundancy += 1 }
            }
        }
        return inventory
    }
}
