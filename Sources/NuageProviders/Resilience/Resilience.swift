import NuageCore

/// The resilience stack every configured provider is wrapped in:
/// retries (outermost), metrics of each attempt, health tracking, per-call timeouts, a
/// concurrency limit (innermost).
public struct Resilience: Sendable {
    public var attempts = 3
    public var timeout: Duration = .seconds(30)
    /// The bound of calls that move no bytes (head, delete, list): a provider that accepts
    /// connections but stopped answering is found out within this.
    public var answerTimeout: Duration = .seconds(10)
    public var minimumBandwidth: Int64 = 1 << 20
    public var concurrency = 16
    public var downAfter = 3
    /// The time timeouts and health backoff are measured on.
    public var time: TimeSource = .continuous

    public init() {}

    /// `raw` wrapped in the stack, and the health tracker that watches it.
    public func wrap(_ raw: any Provider) -> (provider: any Provider, health: HealthTracker) {
        let health = HealthTracker(provider: raw.name, downAfter: downAfter, now: time.now)
        let limited = ConcurrencyLimitedProvider(raw, limit: concurrency)
        let bounded = TimeoutProvider(limited, base: timeout, answer: answerTimeout, minimumBandwidth: minimumBandwidth, time: time)
        let tracked = HealthTrackingProvider(bounded, health: health)
        return (RetryingProvider(MeasuredProvider(tracked), attempts: attempts), health)
    }
}
