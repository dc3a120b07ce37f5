import Foundation
import NuageCore
@testable import NuageProviders
import Testing

@Suite struct BlockingIOTests {
    /// Every shard of a put writes and syncs at once: that many blocking calls must run
    /// together, not a core's worth at a time (each call below waits up to 3 s for all the others; Dispatch took 8 s to start that many threads).
    @Test func blockingCallsRunTogether() async throws {
        let running = Locked(0)
        let calls = 8
        let allMet = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<calls {
                group.addTask {
                    try await BlockingIO.run {
                        running.withLock { $0 += 1 }
                        let deadline = Date().addingTimeInterval(3)
                        while running.value < calls && Date() < deadline { usleep(1000) }
                        return running.value >= calls
                    }
                }
            }
            return try await group.reduce(true) { $0 && $1 }
        }
        #expect(allMet, "fewer than \(calls) blocking calls ran at once (the pool has \(BlockingIO.threads) threads)")
    }

    /// A directory that hangs (a dead network mount) holds as many blocking calls as the
    /// provider may have in flight; the other providers' calls still run.
    @Test func aHungProviderLeavesThreadsForTheOthers() async throws {
        let hung = Resilience().concurrency
        let release = DispatchSemaphore(value: 0), started = Locked(0)
        let blocked = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<hung {
                    group.addTask { try await BlockingIO.run { started.withLock { $0 += 1 }; release.wait() } }
                }
                try await group.waitForAll()
            }
        }
        defer { for _ in 0..<hung { release.signal() } }
        while started.value < hung { try await Task.sleep(for: .milliseconds(5)) }
        let other = try await withDeadline(.seconds(10), onTimeout: { NuageError(.internalError, "a call waited behind \(hung) hung ones") }) {
            try await BlockingIO.run { 42 }
        }
        #expect(other == 42)
        for _ in 0..<hung { release.signal() }
        try await blocked.value
    }
}
