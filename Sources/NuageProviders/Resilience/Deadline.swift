import Synchronization

/// Runs `body` and returns its result, or throws `onTimeout()` once `limit` has passed, even if
/// `body` ignores the cancellation it then receives.
public func withDeadline<T: Sendable>(_ limit: Duration, onTimeout: @escaping @Sendable () -> any Error,
                               _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = ResumeOnce<T>()
    let work = Task { once.resume(with: await Result { try await body() }) }
    let timer = Task {
        try? await Task.sleep(for: limit)
        if !Task.isCancelled { once.resume(with: .failure(onTimeout())) }
    }
    defer {
        timer.cancel()
        work.cancel()
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in once.install(continuation) }
    } onCancel: {
        once.resume(with: .failure(CancellationError()))
    }
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
