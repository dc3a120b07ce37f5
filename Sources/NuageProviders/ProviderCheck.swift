import Foundation
import NuageCore

/// `nuage providers check`: whether a provider works, step by step, with a verdict for each:
/// reachability and credentials (the first write), write, read, range read, list, delete of a
/// probe blob, the latency of each, and the clock skew of S3 providers.
public enum ProviderCheck {
    public struct Step: Sendable {
        public var name: String
        public var passed: Bool
        public var detail: String
        public var milliseconds: Double?
    }

    /// Runs every step against `provider`; a failed write stops the steps that need the blob.
    public static func run(_ provider: any Provider, now: @Sendable () -> Date = { Date() }) async -> [Step] {
        var steps: [Step] = []
        let probe = "nuage-probe-" + [UInt8].random(count: 8).hex
        let bytes = [UInt8].random(count: 64 << 10)

        func step(_ name: String, _ body: () async throws -> String) async -> Bool {
            let start = ContinuousClock.now
            do {
                let detail = try await body()
                steps.append(Step(name: name, passed: true, detail: detail, milliseconds: milliseconds(since: start)))
                return true
            } catch {
                steps.append(Step(name: name, passed: false, detail: explain(error), milliseconds: milliseconds(since: start)))
                return false
            }
        }

        let wrote = await step("write") {
            try await provider.put(probe, bytes: bytes)
            return "stored a \(bytes.count)-byte probe blob"
        }
        if wrote {
            _ = await step("read") {
                guard try await provider.get(probe, range: nil).bytes == bytes else { throw CheckFailure("the blob read back differs") }
                return "read it back intact"
            }
            _ = await step("range read") {
                guard try await provider.get(probe, range: 1000..<5000).bytes == Array(bytes[1000..<5000]) else {
                    throw CheckFailure("the range read back differs")
                }
                return "bytes 1000-4999 intact"
            }
            _ = await step("list") {
                guard try await provider.list(prefix: "nuage-probe-", after: nil, limit: 1000).contains(where: { $0.name == probe }) else {
                    throw CheckFailure("the probe blob is not listed")
                }
                return "the probe blob is listed"
            }
            _ = await step("delete") {
                try await provider.delete(probe)
                do {
                    _ = try await provider.head(probe)
                    throw CheckFailure("the probe blob is still there after delete")
                } catch let error as ProviderError where error.kind == .notFound {
                    return "deleted"
                }
            }
        }
        if let s3 = provider as? S3Provider {
            _ = await step("clock skew") {
                guard let remote = try await s3.client.serverTime(bucket: s3.bucket) else { return "the server sent no Date header" }
                let skew = remote.timeIntervalSince(now())
                guard abs(skew) < 300 else {
                    throw CheckFailure(String(format: "the provider's clock is %.0f s %@ ours; signed requests fail beyond 900 s", abs(skew), skew > 0 ? "ahead of" : "behind"))
                }
                return String(format: "%+.0f s", skew)
            }
        }
        return steps
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start).inSeconds * 1000
    }

    /// What an error means for the operator.
    static func explain(_ error: any Error) -> String {
        guard let error = error as? ProviderError else { return "\(error)" }
        switch error.kind {
        case .unavailable: return "unreachable: \(error)"
        case .permissionDenied: return "refused (credentials, permissions or bucket): \(error)"
        default: return "\(error)"
        }
    }

    struct CheckFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
