import Foundation
import NuageCore
import NuageProviders

/// Local `rclone serve s3` servers, one per country, each an S3 provider with a fault switch
/// under the resilience stack: what the S3 pipeline benchmark and the process chaos tests run
/// an engine over.
public struct LocalS3Fleet: Sendable {
    public struct Member: Sendable {
        public let server: LocalS3Server
        /// `s3-<country>`, located and operated in that country.
        public let descriptor: ProviderDescriptor
        /// Faults set here reach the provider beneath the resilience stack.
        public let faults: FaultInjectingProvider
        /// The provider as an engine uses it (resilience stack on top), and its health.
        public let provider: any Provider
        public let health: HealthTracker
    }

    public let members: [Member]

    public static let sixCountries = ["US", "CA", "DE", "FR", "CH", "JP"]

    /// Starts one server per country, each with a fresh bucket; on failure none is left running.
    public static func start(countries: [String] = sixCountries, resilience: Resilience = Resilience(),
                             clientTimeout: Duration = .seconds(60)) async throws -> LocalS3Fleet {
        var members: [Member] = [], started: [LocalS3Server] = []
        do {
            for country in countries {
                let server = try await LocalS3Server.start(.rclone)
                started.append(server)
                let name = "s3-\(country.lowercased())", place = try Jurisdiction(country)
                let faults = FaultInjectingProvider(S3Provider(name: name, client: try server.client(timeout: clientTimeout),
                                                               bucket: try await server.freshBucket()))
                let (provider, health) = resilience.wrap(faults)
                let descriptor = ProviderDescriptor(name: name, kind: "s3", jurisdiction: place,
                                                    operatorName: "Local rclone \(country)", operatorJurisdiction: place)
                members.append(Member(server: server, descriptor: descriptor, faults: faults, provider: provider, health: health))
            }
        } catch {
            for server in started { server.stop() }
            throw error
        }
        return LocalS3Fleet(members: members)
    }

    /// Stops every server (resuming any that were frozen with SIGSTOP first).
    public func stop() {
        for member in members {
            member.server.signal(SIGCONT)
            member.server.stop()
        }
    }
}
