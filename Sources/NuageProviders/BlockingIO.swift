import Dispatch

/// Runs blocking system calls (reads, writes, fsync, directory scans) off Swift's cooperative
/// threads, which are as few as the cores and must not wait on a disk.
enum BlockingIO {
    private static let queue = DispatchQueue(label: "nuage.blocking-io", qos: .userInitiated, attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
