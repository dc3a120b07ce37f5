import Logging
import ServiceLifecycle

/// A background job of a serving gateway, run every `interval` after `first`, as a service of
/// its group: at graceful shutdown it stops (a run in progress is cancelled; every job is
/// resumable and leaves nothing half done). Its clock is injected, so that tests decide when
/// time passes.
public struct PeriodicService<C: Clock>: Service, CustomStringConvertible where C.Duration == Duration {
    public let name: String
    let interval: Duration
    let first: Duration
    let clock: C
    let work: @Sendable () async -> Void

    public init(_ name: String, every interval: Duration, first: Duration = .zero, clock: C, work: @escaping @Sendable () async -> Void) {
        self.name = name
        self.interval = interval
        self.first = first
        self.clock = clock
        self.work = work
    }

    public var description: String { name }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                if first > .zero { try await clock.sleep(for: first) }
                while !Task.isCancelled {
                    await work()
                    try await clock.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            return  // shutting down
        }
    }
}
