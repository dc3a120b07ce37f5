@testable import NuageCore
import Testing

/// The sleeps of the continuous time source: woken at (never before) their deadline, in order,
/// and gone from the queue the moment they are cancelled.
@Suite struct SleepQueueTests {
    /// A queue of this test's own, so that the counts are its sleepers' alone.
    let queue = SleepQueue()

    @Test func aSleepEndsAfterItsDurationNeverBefore() async throws {
        let clock = ContinuousClock()
        for duration in [Duration.zero, .milliseconds(1), .milliseconds(30)] {
            let start = clock.now
            try await queue.sleep(for: duration)
            #expect(clock.now - start >= duration, "\(duration)")
        }
    }

    @Test func sleepersWakeInTheOrderOfTheirDeadlines() async throws {
        var order: [Int] = []
        try await withThrowingTaskGroup(of: Int.self) { group in
            // Started longest first: the order of waking is the deadlines', not the starts'.
            for (index, milliseconds) in [120, 80, 40].enumerated() {
                group.addTask {
                    try await queue.sleep(for: .milliseconds(milliseconds))
                    return index
                }
            }
            for try await index in group { order.append(index) }
        }
        #expect(order == [2, 1, 0])
    }

    @Test func aCancelledSleepEndsAtOnceAndLeavesTheQueue() async throws {
        let sleeps = (0..<100).map { _ in Task { try await queue.sleep(for: .seconds(3600)) } }
        while queue.waiting < 100 { await Task.yield() }
        for sleep in sleeps { sleep.cancel() }
        for sleep in sleeps {
            await #expect(throws: CancellationError.self) { try await sleep.value }
        }
        #expect(queue.waiting == 0, "cancelled sleepers stay queued")
    }

    @Test func aTaskCancelledBeforeItSleepsDoesNotSleep() async throws {
        let sleep = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await queue.sleep(for: .seconds(3600))
        }
        await #expect(throws: CancellationError.self) { try await sleep.value }
    }

    @Test func deadlinesAreRoundedUpToATickOfAnEighthAtMostFourMilliseconds() {
        let now: UInt64 = 1_000_000_123
        #expect(SleepQueue.deadline(after: .zero, from: now) == now)
        #expect(SleepQueue.deadline(after: .seconds(-1), from: now) == now)
        for duration in [Duration.nanoseconds(1), .microseconds(10), .milliseconds(20), .seconds(30), .seconds(1 << 40)] {
            let (seconds, attoseconds) = duration.components
            let nanoseconds = seconds > 1 << 32 ? UInt64.max / 4 : UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
            let deadline = SleepQueue.deadline(after: duration, from: now)
            let exact = now + nanoseconds
            #expect(deadline >= exact, "\(duration): never early")
            #expect(deadline - exact <= max(1, min(nanoseconds / 8, 4_000_000)), "\(duration): late by at most a tick")
        }
        // Sleeps of 30 s begun within a tick of each other end together.
        #expect(SleepQueue.deadline(after: .seconds(30), from: 4_000_001) == SleepQueue.deadline(after: .seconds(30), from: 7_999_999))
    }
}
