import Synchronization

/// Decode coefficients by erasure pattern (which shards survived, which are wanted), so that a
/// run of reads with the same providers missing inverts the matrix once.
final class DecodeMatrixCache: Sendable {
    private struct Pattern: Hashable {
        let survivors: [Int]
        let wanted: [Int]
    }

    /// Distinct patterns kept; past it the cache starts again (patterns are few in practice).
    static let capacity = 1024
    private let entries = Mutex<[Pattern: [UInt8]]>([:])

    func coefficients(survivors: [Int], wanted: [Int], compute: () throws -> [UInt8]) rethrows -> [UInt8] {
        let pattern = Pattern(survivors: survivors, wanted: wanted)
        if let hit = entries.withLock({ $0[pattern] }) { return hit }
        let value = try compute()
        entries.withLock {
            if $0.count >= Self.capacity { $0.removeAll(keepingCapacity: true) }
            $0[pattern] = value
        }
        return value
    }

    var count: Int { entries.withLock { $0.count } }
}
