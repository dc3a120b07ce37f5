import Foundation
import Logging
import NuageCatalog
import NuageCatalogPostgres
import NuageCore
import NuageCrypto
import NuageEngine
import NuageErasure
import NuagePKCS11
import NuageProviders

/// The gateway's data directory: `nuage.toml`, `master.key` (mode 0600), `catalog.sqlite`,
/// and, in the embedded default, `providers/NAME/` for the local providers.
public struct DataDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
    }

    public var configurationPath: String { "\(path)/nuage.toml" }
    public var masterKeyPath: String { "\(path)/master.key" }
    /// Master keys rotated out and not yet retired, one file `ID.key` each (ID: 8 hex digits).
    public var olderKeysPath: String { "\(path)/master.key.d" }

    /// The older master keys held (see ``olderKeysPath``): key files `ID.key`, and keys in a
    /// token named by `ID.toml` (a `[master-key]` section, as in nuage.toml).
    public func olderKeys(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [MasterKey] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: olderKeysPath)) ?? []).sorted()
        var keys = try names.filter { $0.hasSuffix(".key") }.map { try MasterKey.load(from: "\(olderKeysPath)/\($0)") }
        for name in names where name.hasSuffix(".toml") {
            guard case .pkcs11(let settings) = try olderTokenKey(at: "\(olderKeysPath)/\(name)") else {
                throw NuageError(.configuration, "\(olderKeysPath)/\(name) does not name a key in a token ([master-key] kind = \"pkcs11\")")
            }
            let cache = UnwrappedKeyCache(limits: .init(count: settings.cacheSize, lifetime: .seconds(settings.cacheSeconds)))
            keys.append(try MasterKey(token: try openToken(settings, create: false, environment: environment).token, cache: cache))
        }
        return keys
    }

    /// The token key an `ID.toml` in ``olderKeysPath`` names.
    public func olderTokenKey(at path: String) throws -> Configuration.MasterKeySource {
        guard let data = FileManager.default.contents(atPath: path) else { throw NuageError(.configuration, "cannot read \(path)") }
        do { return try Configuration.masterKeySource(section: String(decoding: data, as: UTF8.self)) } catch let error as NuageError {
            throw NuageError(.configuration, "\(path): \(error.message)")
        }
    }
    public var catalogPath: String { "\(path)/catalog.sqlite" }

    /// Whether `nuage init` has run here.
    public var isInitialized: Bool { FileManager.default.fileExists(atPath: configurationPath) }

    /// Creates the embedded default: the demo configuration, a new master key, an empty
    /// catalog and the provider directories.
    /// - Throws: `NuageError.configuration` when the directory is already initialised or
    ///   cannot be written.
    public func initialize(configuration text: String = Configuration.demo,
                           environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard !isInitialized else {
            throw NuageError(.configuration, "\(path) is already initialised (\(configurationPath) exists)")
        }
        let configuration = try Configuration(toml: text)
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw NuageError(.configuration, "cannot create data directory \(path)", cause: error)
        }
        switch configuration.masterKey {
        case .file:
            if !FileManager.default.fileExists(atPath: masterKeyPath) { try MasterKey.create(at: masterKeyPath) }
        case .pkcs11(let settings):
            // Created in the token (non-extractable), or adopted when a key of that label exists.
            _ = try openToken(settings, create: true, environment: environment)
        }
        // A PostgreSQL catalog's schema is created when a gateway or command first opens it.
        if configuration.catalog == .sqlite { _ = try SQLiteCatalog(path: catalogPath) }
        for provider in configuration.providers {
            if case .directory(let path) = provider.storage { _ = try DirectoryProvider(name: provider.descriptor.name, root: resolve(path)) }
        }
        // The configuration goes last: its presence marks a complete initialisation.
        try writeConfiguration(text)
    }

    /// Replaces `nuage.toml` atomically with `text`, readable by its owner only (0600), as is
    /// every file Nuage creates.
    public func writeConfiguration(_ text: String) throws {
        try writeDurably(text, to: configurationPath)
    }

    /// Reads the configuration.
    public func configuration() throws -> Configuration {
        guard let data = FileManager.default.contents(atPath: configurationPath) else {
            throw NuageError(.configuration, "cannot read \(configurationPath); run `nuage init` first")
        }
        do { return try Configuration(toml: String(decoding: data, as: UTF8.self)) } catch let error as NuageError {
            throw NuageError(.configuration, "\(configurationPath): \(error.message)")
        }
    }

    /// Opens the catalog the configuration names: this directory's SQLite file, or PostgreSQL
    /// (creating or migrating its schema).
    public func openCatalog(_ source: Configuration.CatalogSource,
                            environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> any Catalog {
        switch source {
        case .sqlite:
            return try SQLiteCatalog(path: catalogPath)
        case .postgres(let url, let passwordEnv, let passwordFile):
            let location = try PostgresLocation(url: url)
            var password: String?
            if let passwordEnv {
                guard let value = environment[passwordEnv] else {
                    throw NuageError(.configuration, "[catalog] password-env names \(passwordEnv), which is not set")
                }
                password = value
            } else if let passwordFile {
                password = try location.password(inPassFile: resolve(passwordFile))
            }
            // One connection first: a wrong host, user or certificate fails now, with its reason.
            try await location.check(password: password, logger: Logger(label: "nuage.catalog.postgres"))
            return try await PostgresCatalog(configuration: location.configuration(password: password))
        }
    }

    /// Opens the engine over this directory's configuration, key and catalog.
    /// - Parameter environment: `NUAGE_KERNEL` selects the codec kernel; S3 providers' credentials
    ///   come from the variables their configuration names.
    /// - Parameter clients: the HTTP clients of its S3 providers (default: the process's).
    public func openEngine(environment: [String: String] = ProcessInfo.processInfo.environment,
                           clients: ProviderFactory.HTTPClients = .process) async throws -> Engine {
        let configuration = try configuration()
        let master = try masterKey(configuration, environment: environment)
        let catalog = try await openCatalog(configuration.catalog, environment: environment)
        // Every provider goes through the resilience stack: retries, health, timeouts, limits.
        let providers = try configuration.providers.map { config in
            let made: any Provider
            do {
                made = try ProviderFactory.make(config, resolve: resolve, environment: environment, clients: clients)
            } catch let error as NuageError where config.storage.isS3 {
                // An S3 provider without its credentials here: only what touches it fails.
                made = UnusableProvider(name: config.descriptor.name, reason: error.message)
            }
            let (provider, health) = Resilience().wrap(made)
            return Engine.ProviderEntry(descriptor: config.descriptor, provider: provider, health: health,
                                        neverContacted: config.neverRead)
        }
        let directory = self
        return try Engine(catalog: catalog, providers: providers, policy: configuration.policy, masterKey: master, olderKeys: try olderKeys(),
                          keyLoader: {
                              // Read again: a rotation may have moved the key between a file and a token.
                              // A token's key stays the same key for as long as the configuration names it.
                              let now = try directory.configuration()
                              let active = now.masterKey == configuration.masterKey && configuration.masterKey != .file
                                  ? master : try directory.masterKey(now, environment: environment)
                              return (active, try directory.olderKeys(environment: environment))
                          },
                          segmentSize: configuration.segmentSize, packLimit: configuration.packLimit, kernel: try Kernel.selected(environment: environment),
                          deleteDelay: .seconds(configuration.deleteDelaySeconds))
    }

    /// The active master key: `master.key`, or the key in the token `[master-key]` names.
    /// - Throws: `NuageError.configuration` (missing file, PIN, module, key) or `keyUnavailable`.
    public func masterKey(_ configuration: Configuration,
                          environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MasterKey {
        switch configuration.masterKey {
        case .file:
            return try MasterKey.load(from: masterKeyPath)
        case .pkcs11(let settings):
            let token = try openToken(settings, create: false, environment: environment).token
            let cache = UnwrappedKeyCache(limits: .init(count: settings.cacheSize, lifetime: .seconds(settings.cacheSeconds)))
            return try MasterKey(token: token, cache: cache)
        }
    }

    /// Opens the token of `[master-key] kind = "pkcs11"` with its PIN.
    public func openToken(_ settings: Configuration.PKCS11Settings, create: Bool,
                          environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (token: PKCS11Token, created: Bool) {
        let pin: String
        if let variable = settings.pinEnv {
            guard let value = environment[variable], !value.isEmpty else {
                throw NuageError(.configuration, "the master key's token PIN is read from $\(variable), which is not set")
            }
            pin = value
        } else {
            let path = resolve(settings.pinFile ?? "")
            var info = stat()
            guard stat(path, &info) == 0, let data = FileManager.default.contents(atPath: path) else {
                throw NuageError(.configuration, "cannot read the PIN file \(path)")
            }
            guard info.st_mode & 0o077 == 0 else {
                throw NuageError(.configuration, "the PIN file \(path) is accessible to other users; run chmod 600 on it")
            }
            pin = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        }
        return try PKCS11Token.open(module: settings.module, uri: settings.uri, pin: pin, create: create)
    }

    /// Writes `text` to `path` (mode 0600) durably: a temporary file, synced, renamed into place.
    public func writeDurably(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NuageError(.configuration, "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        do {
            let writer = FileWriter(descriptor: fd, writeBehind: false)
            try Data(text.utf8).withUnsafeBytes { try writer.write($0) }
            try writer.sync()
        } catch {
            unlink(temporary)
            throw NuageError(.configuration, "cannot write \(temporary)", cause: error)
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw NuageError(.configuration, "cannot replace \(path): \(reason)")
        }
    }

    /// A path from the configuration, relative to the data directory unless absolute.
    public func resolve(_ configured: String) -> String {
        configured.hasPrefix("/") ? configured : "\(path)/\(configured)"
    }
}
