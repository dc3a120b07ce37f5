/// Where time comes from for behaviour that depends on it: timeouts, hedged reads, the
/// straggler grace of writes, health backoff. The gateway uses the continuous clock; tests give
/// one they move themselves, so that what they check does not depend on how loaded the machine is.
public struct TimeSource: Sendable {
    public var now: @Sendable () -> ContinuousClock.Instant
    public var sleep: @Sendable (Duration) async throws -> Void

    public init(now: @escaping @Sendable () -> ContinuousClock.Instant, sleep: @escaping @Sendable (Duration) async throws -> Void) {
        self.now = now
        self.sleep = sleep
    }

    /// The continuous clock, and sleeps woken by one thread (``SleepQueue``), not a Dispatch
    /// timer each.
    public static let continuous = TimeSource(now: { .now }, sleep: { try await SleepQueue.shared.sleep(for: $0) })
}
