import AsyncHTTPClient
import Foundation
import NuageCore
import NuageProviders
import NuageS3Client
import NuageSigV4
import Synchronization

/// Builds the provider a `[[provider]]` entry describes.
public enum ProviderFactory {
    /// - Parameters:
    ///   - resolve: turns a configured path into an absolute one (relative to the data directory).
    ///   - environment: where `access-key-env` and `secret-key-env` are looked up.
    ///   - createDirectory: create a directory provider's root when it is missing (`init` and
    ///     `providers add` do; otherwise a missing root is a mistyped path, not an empty provider).
    /// - Throws: `NuageError.configuration` for missing credentials, an unusable endpoint or a
    ///   directory provider's missing root.
    ///   - clients: the HTTP clients S3 providers use (a gateway owns its own and shuts them down with it).
    public static func make(_ config: Configuration.ProviderConfig, resolve: (String) -> String,
                            environment: [String: String], createDirectory: Bool = false,
                            clients: HTTPClients = .process) throws -> any Provider {
        let name = config.descriptor.name
        switch config.storage {
        case .directory(let path):
            let root = resolve(path)
            var isDirectory: ObjCBool = false
            guard createDirectory || (FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) && isDirectory.boolValue) else {
                throw NuageError(.configuration, "provider \(name): directory \(root) does not exist (a mistyped path? `nuage init` and "
                                 + "`nuage providers add` create provider directories; an empty one would show every shard on it missing)")
            }
            return try DirectoryProvider(name: name, root: root)
        case .s3(let settings):
            let (access, secret) = try credentials(settings, provider: name, resolve: resolve, environment: environment)
            let http = try clients.client(caFile: settings.caFile.map(resolve))
            let client: S3Client
            do {
                client = try S3Client(endpoint: settings.endpoint,
                                      signer: SigV4Signer(accessKey: access, secretKey: secret, region: settings.region),
                                      addressing: settings.addressing == "virtual" ? .virtual : .path, http: http)
            } catch let error as NuageError {
                throw NuageError(.configuration, "provider \(name): \(error.message)")
            }
            return S3Provider(name: name, client: client, bucket: settings.bucket, keyPrefix: settings.prefix)
        }
    }

    /// The access key id and secret, from the named environment variables or the credentials file.
    static func credentials(_ settings: Configuration.S3Settings, provider: String, resolve: (String) -> String,
                            environment: [String: String]) throws -> (String, String) {
        if let accessVariable = settings.accessKeyEnv, let secretVariable = settings.secretKeyEnv {
            guard let access = environment[accessVariable], !access.isEmpty else {
                throw NuageError(.configuration, "provider \(provider): environment variable \(accessVariable) (access-key-env) is not set")
            }
            guard let secret = environment[secretVariable], !secret.isEmpty else {
                throw NuageError(.configuration, "provider \(provider): environment variable \(secretVariable) (secret-key-env) is not set")
            }
            return (access, secret)
        }
        let path = resolve(settings.credentialsFile ?? "")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw NuageError(.configuration, "provider \(provider): cannot read credentials file \(path)")
        }
        var section = "", values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("[") && line.hasSuffix("]") { section = String(line.dropFirst().dropLast()); continue }
            guard section == settings.profile, let equals = line.firstIndex(of: "=") else { continue }
            values[line[..<equals].trimmingCharacters(in: .whitespaces)] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        guard let access = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else {
            throw NuageError(.configuration, "provider \(provider): \(path) has no aws_access_key_id and aws_secret_access_key under [\(settings.profile)]")
        }
        return (access, secret)
    }

    /// The HTTP clients of S3 providers: one per CA file (and one for the system's trust roots),
    /// made when first needed. A serving gateway owns a set and shuts it down with its group;
    /// commands share ``process``, which lives as long as the process.
    public final class HTTPClients: Sendable {
        private let clients = Mutex<[String: HTTPClient]>([:])
        /// Whether ``shutdown()`` may close them (not the process's set, shared by everything).
        private let owned: Bool

        public init() { owned = true }
        private init(shared: Void) { owned = false }

        public static let process = HTTPClients(shared: ())

        /// - Throws: `configuration` when the CA file cannot be read.
        public func client(caFile: String?) throws -> HTTPClient {
            if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                throw NuageError(.configuration, "cannot read CA file \(caFile)")
            }
            return clients.withLock { clients in
                if let client = clients[caFile ?? ""] { return client }
                let client = S3Client.makeHTTPClient(caFile: caFile)
                clients[caFile ?? ""] = client
                return client
            }
        }

        /// Closes every client (their connections); calls made after fail.
        public func shutdown() async throws {
            guard owned else { return }
            let all = clients.withLock { clients in
                defer { clients = [:] }
                return Array(clients.values)
            }
            for client in all { try await client.shutdown() }
        }
    }
}
