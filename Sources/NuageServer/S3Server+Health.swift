import Foundation
import Hummingbird
import NIOCore
import NuageEngine

extension S3Server {
    /// `GET /health/live` and `GET /health/ready` without credentials, for a load balancer or an
    /// orchestrator (a signed request to these paths is an ordinary S3 request: bucket `health`).
    /// Live: the process answers. Ready: the catalog and the master key (its token, when it is
    /// in one) answer and enough providers are up for reads (k) and writes (the write quorum);
    /// the JSON body says which is failing.
    func health(_ request: Request) async -> Response? {
        guard request.method == .get || request.method == .head, request.uri.query == nil || request.uri.query == "",
              request.headers[.authorization] == nil, ["/health/live", "/health/ready"].contains(request.uri.path) else { return nil }
        var checks: [String: String] = [:]
        var ready = true
        if request.uri.path == "/health/ready" {
            do {
                _ = try await engine.catalog.journalState()
                checks["catalog"] = "ok"
            } catch {
                checks["catalog"] = "failing: \(error)"
                ready = false
            }
            do {
                try await engine.masterKey.probe()
                checks["master-key"] = "ok"
            } catch {
                checks["master-key"] = "failing: \(error)"
                ready = false
            }
            let policy = engine.placement.policy
            let eligible = engine.placement.providers.filter { engine.placement.exclusions[$0.name] == nil }.map(\.name)
            let down = engine.placement.providers.map(\.name).filter { engine.health[$0]?.state == .down }
            let up = eligible.filter { !down.contains($0) }.count
            checks["providers"] = down.isEmpty ? "all up" : "down: " + down.sorted().joined(separator: ", ")
            checks["reads"] = engine.placement.providers.count - down.count >= policy.dataShards ? "ok" : "failing: fewer than k = \(policy.dataShards) providers up"
            checks["writes"] = !engine.placementProblems.isEmpty ? "failing: " + engine.placementProblems.joined(separator: "; ")
                : up >= policy.writeQuorum ? "ok" : "failing: \(up) eligible providers up, the write quorum is \(policy.writeQuorum)"
            ready = ready && checks["reads"] == "ok" && checks["writes"] == "ok"
        }
        checks["status"] = ready ? "ok" : "failing"
        let body = (try? JSONSerialization.data(withJSONObject: checks, options: [.sortedKeys])) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json", .contentLength: String(body.count)]
        headers[.cacheControl] = "no-store"
        return Response(status: ready ? .ok : .serviceUnavailable, headers: headers,
                        body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
