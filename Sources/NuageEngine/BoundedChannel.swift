import Synchronization

/// A single-consumer queue that holds at most `capacity` elements: `send` waits while it is
/// full, so a fast producer cannot run ahead of a slow consumer and memory stays bounded.
///
/// The producer ends it with ``finish(throwing:)``; the consumer gives up with ``close()``
/// (or by being cancelled), after which `send` throws ``Closed`` at once.
final class BoundedChannel<Element: Sendable>: AsyncSequence, Sendable {
    struct Closed: Error {}

    private struct State {
        /// Queued elements from `head` on; consumed slots are cleared so they free their memory.
        var buffer: [Element?] = []
        var head = 0
        var senders: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var receiver: CheckedContinuation<Element?, any Error>?
        var finished = false
        var failure: (any Error)?
        var closed = false
        var nextID = 0
        var count: Int { buffer.count - head }

        mutating func pop() -> Element {
            let element = buffer[head]!
            buffer[head] = nil
            head += 1
            if head > 64 && head * 2 > buffer.count {
                buffer.removeFirst(head)
                head = 0
            }
            return element
        }
    }

    private enum SendAction { case done, wait, closed }
    private enum ReceiveOutcome { case element(Element, CheckedContinuation<Void, any Error>?), end((any Error)?), wait }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
    }

    /// Appends `element` if there is room now.
    /// - Returns: false when the channel is full.
    /// - Throws: ``Closed`` when the consumer has gone or the channel was finished.
    func trySend(_ element: Element) throws -> Bool {
        switch offer(element) {
        case .done: return true
        case .wait: return false
        case .closed: throw Closed()
        }
    }

    /// Hands `element` to a waiting consumer or buffers it when there is room.
    private func offer(_ element: Element) -> SendAction {
        state.withLock { s in
            if s.closed || s.finished { return .closed }
            if let receiver = s.receiver {
                s.receiver = nil
                receiver.resume(returning: element)
                return .done
            }
            if s.count < capacity {
                s.buffer.append(element)
                return .done
            }
            return .wait
        }
    }

    /// Appends `element`, waiting while the channel is full.
    /// - Throws: ``Closed`` when the consumer has gone, `CancellationError` when cancelled.
    func send(_ element: Element) async throws {
        try Task.checkCancellation()
        switch offer(element) {
        case .done: return
        case .closed: throw Closed()
        case .wait:
            let id = state.withLock { s in
                s.nextID += 1
                return s.nextID
            }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let resumeNow: (any Error)?? = state.withLock { s in
                        if s.closed || s.finished { return .some(Closed()) }
                        if Task.isCancelled { return .some(CancellationError()) }
                        if s.count < capacity { return .some(nil) }
                        s.senders.append((id, continuation))
                        return .none
                    }
                    if let resumeNow {
                        if let error = resumeNow { continuation.resume(throwing: error) } else { continuation.resume() }
                    }
                }
            } onCancel: {
                let waiting = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                    guard let index = s.senders.firstIndex(where: { $0.id == id }) else { return nil }
                    return s.senders.remove(at: index).continuation
                }
                waiting?.resume(throwing: CancellationError())
            }
            // Space was made (or the state changed): try again.
            try await send(element)
        }
    }

    /// Ends the stream after the buffered elements; with an error, the consumer gets it then.
    func finish(throwing error: (any Error)? = nil) {
        let receiver = state.withLock { s -> CheckedContinuation<Element?, any Error>? in
            guard !s.finished else { return nil }
            s.finished = true
            s.failure = error
            defer { s.receiver = nil }
            return s.receiver
        }
        if let receiver {
            if let error { receiver.resume(throwing: error) } else { receiver.resume(returning: nil) }
        }
        wakeSenders()
    }

    /// The consumer stops reading: buffered elements are dropped and senders fail.
    func close() {
        state.withLock { s in
            s.closed = true
            s.buffer.removeAll()
            s.head = 0
        }
        wakeSenders()
    }

    private func wakeSenders() {
        let senders = state.withLock { s in
            defer { s.senders.removeAll() }
            return s.senders
        }
        for sender in senders { sender.continuation.resume(throwing: Closed()) }
    }

    fileprivate func next() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Element?, any Error>) in
                let outcome: ReceiveOutcome = state.withLock { s in
                    if s.count > 0 {
                        let element = s.pop()
                        let sender = s.senders.isEmpty ? nil : s.senders.removeFirst().continuation
                        return .element(element, sender)
                    }
                    if s.closed { return .end(CancellationError()) }
                    if s.finished { return .end(s.failure) }
                    if Task.isCancelled { return .end(CancellationError()) }
                    s.receiver = continuation
                    return .wait
                }
                switch outcome {
                case .element(let element, let sender):
                    sender?.resume()
                    continuation.resume(returning: element)
                case .end(let error):
                    if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: nil) }
                case .wait:
                    // A sender blocked on a full buffer can now hand its element over directly.
                    let sender = state.withLock { s in s.senders.isEmpty ? nil : s.senders.removeFirst().continuation }
                    sender?.resume()
                }
            }
        } onCancel: {
            let receiver = state.withLock { s -> CheckedContinuation<Element?, any Error>? in
                s.closed = true
                defer { s.receiver = nil }
                return s.receiver
            }
            receiver?.resume(throwing: CancellationError())
            wakeSenders()
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let channel: BoundedChannel
        mutating func next() async throws -> Element? { try await channel.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(channel: self) }
}
