import NuageCore
import Synchronization

/// A clock that moves only when a test says so: services and timeouts sleep on it, and
/// ``advance(by:)`` wakes those whose deadline has come. Tests of timing behaviour then depend
/// on what they do, not on how loaded the machine is.
public final class ManualClock: Clock, Sendable {
    public struct Instant: InstantProtocol {
        public var offset: Duration
        public init(offset: Duration) { self.offset = offset }
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        var id: Int
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let state = Mutex<(now: Instant, sleepers: [Sleeper], next: Int)>((Instant(offset: .zero), [], 0))

    /// The continuous-clock instant this clock's zero stands for (what ``timeSource`` reports).
    private let origin = ContinuousClock.now

    public init() {}

    /// This clock as the engine's and providers' time source.
    public var timeSource: TimeSource {
        TimeSource(now: { [self] in origin.advanced(by: now.offset) }, sleep: { [self] duration in try await sleep(for: duration) })
    }

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .zero }
    /// How many tasks sleep on the clock now.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state in
            state.next += 1
            return state.next
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { state in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            try Task.checkCancellation()
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward, waking every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Waits (in real time, briefly yielding) until `count` tasks sleep on the clock.
    public func waitForSleepers(_ count: Int, timeout: Duration = .seconds(30)) async throws {
        let start = ContinuousClock.now
        while sleepers < count {
            guard ContinuousClock.now - start < timeout else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
