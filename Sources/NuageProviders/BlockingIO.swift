import NIOPosix

/// Runs blocking system calls (reads, writes, fsync, directory scans) off Swift's cooperative
/// threads, which are as few as the cores and must not wait on a disk.
///
/// The threads are its own and many: every shard of a put writes and then `fsync`s at once,
/// and one blob's `fsync` must not hold up another's writes. (Dispatch's concurrent queues
/// run about as many blocked calls at once as there are cores.) There are four times as
/// many as one provider may have calls in flight (``Resilience/concurrency``), so that
/// directories that hang (a dead network mount) hold a quarter of them each, and with up to
/// three hung the other providers still go on.
enum BlockingIO {
    static let threads = 4 * Resilience().concurrency
    private static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }()

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }
}
