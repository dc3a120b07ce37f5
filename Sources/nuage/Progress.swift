import Foundation
import NuageCore
import NuageEngine
import Synchronization

/// A one-line progress display on stderr for long transfers, shown only when stderr is a terminal.
final class Progress: Sendable {
    private struct State {
        var done: Int64 = 0
        var lastDraw: ContinuousClock.Instant
        var shown = false
    }
    private let label: String
    private let total: Int64
    private let enabled: Bool
    private let start = ContinuousClock.now
    private let state: Mutex<State>

    init(label: String, total: Int64) {
        self.label = label
        self.total = total
        enabled = isatty(2) != 0 && total >= 8 << 20
        state = Mutex(State(lastDraw: start))
    }

    func add(_ count: Int) {
        guard enabled else { return }
        let line: String? = state.withLock { s in
            s.done += Int64(count)
            let now = ContinuousClock.now
            guard now - s.lastDraw > .milliseconds(200) else { return nil }
            s.lastDraw = now
            s.shown = true
            return render(s.done, elapsed: now - start)
        }
        if let line { FileHandle.standardError.write(Data(("\r" + line).utf8)) }
    }

    func finish() {
        guard enabled, state.withLock({ $0.shown }) else { return }
        FileHandle.standardError.write(Data(("\r" + render(total, elapsed: ContinuousClock.now - start) + "\n").utf8))
    }

    private func render(_ done: Int64, elapsed: Duration) -> String {
        let seconds = max(elapsed.inSeconds, 1e-3)
        let percent = total > 0 ? Double(done) * 100 / Double(total) : 100
        let rate = Double(done) / seconds
        let eta = done > 0 && done < total ? String(format: "  ETA %.0f s", Double(total - done) / rate) : ""
        return String(format: "%@  %5.1f%%  %.0f / %.0f MiB  %.0f MiB/s%@", label, percent,
                      Double(done) / 1_048_576, Double(total) / 1_048_576, rate / 1_048_576, eta)
    }

    /// Wraps a body so that reading it advances the display.
    func counting(_ body: some ObjectBody) -> some ObjectBody { CountingBody(inner: body, progress: self) }
}

private struct CountingBody<Inner: ObjectBody>: ObjectBody {
    let inner: Inner
    let progress: Progress
    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        let n = try await inner.read(into: buffer)
        progress.add(n)
        return n
    }
}
