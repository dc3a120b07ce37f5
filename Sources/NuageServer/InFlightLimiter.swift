import Hummingbird
import Synchronization

/// Limits requests in flight, per name (an access key; "" for the whole gateway). A permit is
/// released when it is dropped: `Response.holding` keeps it until the body has been written.
final class InFlightLimiter: Sendable {
    let limit: Int
    private let counts = Mutex<[String: Int]>([:])
    init(limit: Int) { self.limit = limit }

    /// A permit, or nil when `name` already holds `limit` of them.
    func acquire(_ name: String) -> Permit? {
        counts.withLock { counts in
            guard counts[name, default: 0] < limit else { return false }
            counts[name, default: 0] += 1
            return true
        } ? Permit(self, name) : nil
    }

    /// Requests in flight for `name`.
    func count(_ name: String) -> Int { counts.withLock { $0[name] ?? 0 } }

    fileprivate func release(_ name: String) {
        counts.withLock { counts in
            let left = counts[name, default: 1] - 1
            counts[name] = left > 0 ? left : nil
        }
    }

    final class Permit: Sendable {
        let owner: InFlightLimiter
        let name: String
        init(_ owner: InFlightLimiter, _ name: String) { self.owner = owner; self.name = name }
        deinit { owner.release(name) }
    }
}

extension Response {
    /// Keeps `permits` until the body has been written (or dropped).
    func holding(_ permits: [InFlightLimiter.Permit]) -> Response {
        var response = self
        let body = self.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            _ = permits
            try await body.write(writer)
        }
        return response
    }
}
