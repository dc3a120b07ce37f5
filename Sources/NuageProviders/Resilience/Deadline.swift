import NuageCore
import Synchronization

/// Runs `body` and returns its result, unless `watchdog` returns an error first: that error is
/// thrown at once and `body` is cancelled, even if it ignores the cancellation. The watchdog is
/// cancelled when `body` finishes (it should then return nil).
public func withWatchdog<T: Sendable>(_ watchdog: @escaping @Sendable () async -> (any Error)?,
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = ResumeOnce<T>()
    let work = Task { once.resume(with: await Result { try await body() }) }
    let watcher = Task {
        if let error = await watchdog(), !Task.isCancelled { once.resume(with: .failure(error)) }
    }
    defer {
        watcher.cancel()
        work.cancel()
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in once.install(continuation) }
    } onCancel: {
        once.resume(with: .failure(CancellationError()))
    }
}

/// Runs `body` and returns its result, or throws `onTimeout()` once `limit` has passed on `time`.
public func withDeadline<T: Sendable>(_ limit: Duration, time: TimeSource = .continuous, onTimeout: @escaping @Sendable () -> any Error,
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withWatchdog({
        guard (try? await time.sleep(limit)) != nil else { return nil }
        return onTimeout()
    }, body)
}

/// A continuation resumed by whichever of several racers finishes first.
final class ResumeOnce<T: Sendable>: Sendable {
    private enum State {
        case waiting
        case installed(CheckedContinuation<T, any Error>)
        case finished(Result<T, any Error>)
        case done
    }
    private let state = Mutex<State>(.waiting)

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let ready: Result<T, any Error>? = state.withLock { state in
            switch state {
            case .waiting: state = .installed(continuation); return nil
            case .finished(let result): state = .done; return result
            default: return nil
            }
        }
        if let ready { continuation.resume(with: ready) }
    }

    func resume(with result: Result<T, any Error>) {
        let continuation: CheckedContinuation<T, any Error>? = state.withLock { state in
            switch state {
            case .waiting: state = .finished(result); return nil
            case .installed(let continuation): state = .done; return continuation
            default: return nil
            }
        }
        continuation?.resume(with: result)
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
