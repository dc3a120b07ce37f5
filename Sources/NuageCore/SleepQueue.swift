#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wakes sleeping tasks at their deadlines from one thread: the sleeps of the continuous
/// ``TimeSource`` (every provider call's timeout, every hedged read's timer, every write's
/// watchdog tick) go through it.
///
/// `Task.sleep` schedules a Dispatch timer per sleep, and a sleep that is cancelled (nearly
/// all of these: the call they bound finished first) leaves its timer to fire, uselessly, at
/// its deadline: a 4 KiB GET left five timers behind, 30 s each, and the timer thread woke for
/// every one. Here a sleep is an entry in a heap; cancelling it removes it at once, and the
/// thread wakes only for the earliest live deadline.
public final class SleepQueue: @unchecked Sendable {
    // @unchecked: every field is read and written with `mutex` held.
    public static let shared = SleepQueue()

    private struct Sleeper {
        let deadline: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Live sleepers by id.
    private var sleepers: [UInt64: Sleeper] = [:]
    /// (deadline, id), earliest first; entries of sleepers already gone are dropped when they surface.
    private var heap = MinHeap()
    /// Ids cancelled before they were queued (the cancellation handler ran first).
    private var cancelledEarly: Set<UInt64> = []
    private var nextID: UInt64 = 0
    /// The deadline the thread sleeps until (`.max`: none).
    private var wakeAt = UInt64.max

    /// A queue of its own, with its own thread (which lives as long as the process): the
    /// process has ``shared``; tests make their own to count their sleepers alone.
    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        var thread = pthread_t()
        let queue = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { argument in
            Unmanaged<SleepQueue>.fromOpaque(argument!).takeUnretainedValue().run()
            return nil
        }, queue)
        precondition(created == 0, "SleepQueue: cannot start its thread (errno \(created))")
        pthread_detach(thread)
    }

    /// Nanoseconds on the monotonic clock.
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Suspends for `duration`, or until the task is cancelled (then throws `CancellationError`).
    public func sleep(for duration: Duration) async throws {
        let deadline = Self.deadline(after: duration, from: Self.now())
        let id = locked { () -> UInt64 in
            nextID += 1
            return nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let early = locked { () -> Bool in
                    if cancelledEarly.remove(id) != nil { return true }
                    sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    heap.push(deadline: deadline, id: id)
                    if deadline < wakeAt { pthread_cond_signal(condition) }
                    return false
                }
                if early { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let sleeper = locked { () -> Sleeper? in
                guard let sleeper = sleepers.removeValue(forKey: id) else {
                    // Not queued yet (or already woken: then this entry is never looked at again,
                    // and is removed below when it was not).
                    cancelledEarly.insert(id)
                    return nil
                }
                return sleeper
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        // A sleep woken by its deadline may have been cancelled after: forget that id. (A task
        // whose handler ran is cancelled for good, so a task that is not never left one.)
        if Task.isCancelled { locked { _ = cancelledEarly.remove(id) } }
    }

    /// When a sleep of `duration` begun at `now` ends: rounded up to a tick of an eighth of the
    /// duration, at most 4 ms, so that sleeps begun close together end together and the thread
    /// wakes once for them (a sleep ends at most 12.5 %, or 4 ms, late; never early).
    static func deadline(after duration: Duration, from now: UInt64) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || attoseconds > 0 else { return now }
        let longest = UInt64.max / 4  // about 146 years: "forever", with room to add and round
        let nanoseconds = seconds >= Int64(longest / 1_000_000_000) ? longest
            : min(UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000), longest)
        let tick = max(1, min(nanoseconds / 8, 4_000_000))
        let exact = now + nanoseconds
        return (exact + tick - 1) / tick * tick
    }

    /// The number of sleepers waiting (for tests and metrics).
    public var waiting: Int { locked { sleepers.count } }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// The thread: wakes the sleepers whose deadline has passed, then waits for the next one.
    private func run() {
        var due: [CheckedContinuation<Void, any Error>] = []
        while true {
            pthread_mutex_lock(mutex)
            let now = Self.now()
            while let top = heap.top, top.deadline <= now || sleepers[top.id] == nil {
                heap.pop()
                if let sleeper = sleepers.removeValue(forKey: top.id) { due.append(sleeper.continuation) }
            }
            // Entries of cancelled sleepers sink until their deadline: rebuild when they dominate.
            if heap.count > 1024 && heap.count > 4 * sleepers.count {
                heap = MinHeap(sleepers.map { (deadline: $0.value.deadline, id: $0.key) })
            }
            if due.isEmpty {
                wakeAt = heap.top?.deadline ?? .max
                if wakeAt == .max {
                    pthread_cond_wait(condition, mutex)
                } else {
                    var until = timespec(tv_sec: Int(wakeAt / 1_000_000_000), tv_nsec: Int(wakeAt % 1_000_000_000))
                    pthread_cond_timedwait(condition, mutex, &until)
                }
                wakeAt = .max
            }
            pthread_mutex_unlock(mutex)
            for continuation in due { continuation.resume() }
            due.removeAll(keepingCapacity: true)
        }
    }
}

/// A binary min-heap of (deadline, id).
private struct MinHeap {
    private var items: [(deadline: UInt64, id: UInt64)] = []

    init() {}

    init(_ items: [(deadline: UInt64, id: UInt64)]) {
        self.items = items
        for index in Swift.stride(from: items.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    var count: Int { items.count }
    var top: (deadline: UInt64, id: UInt64)? { items.first }

    mutating func push(deadline: UInt64, id: UInt64) {
        items.append((deadline, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count && items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count && items[right].deadline < items[smallest].deadline { smallest = right }
            guard smallest != parent else { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
