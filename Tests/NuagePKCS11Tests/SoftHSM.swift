import Foundation
import NuagePKCS11

/// A throwaway SoftHSM2 token for the tests of this process: its own configuration and token
/// directory (SOFTHSM2_CONF is set before the module is first loaded, which reads it once).
enum SoftHSM {
    static let module = "/usr/lib/softhsm/libsofthsm2.so"
    static let tokenLabel = "nuage-tests"
    static let pin = "246810"

    struct Setup: Sendable {
        let directory: String
    }

    /// Made once; a missing SoftHSM2 is an error that says how to get it, never a skipped test.
    static let setup: Result<Setup, any Error> = Result {
        guard FileManager.default.fileExists(atPath: module), let util = which("softhsm2-util") else {
            throw TestSetupError("SoftHSM2 is missing: ./scripts/test installs Debian's softhsm2")
        }
        let directory = NSTemporaryDirectory() + "nuage-softhsm-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory + "/tokens", withIntermediateDirectories: true)
        let conf = directory + "/softhsm2.conf"
        try "directories.tokendir = \(directory)/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
            .write(toFile: conf, atomically: true, encoding: .utf8)
        setenv("SOFTHSM2_CONF", conf, 1)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: util)
        process.arguments = ["--init-token", "--free", "--label", tokenLabel, "--so-pin", "13579", "--pin", pin]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestSetupError("softhsm2-util --init-token failed") }
        return Setup(directory: directory)
    }

    /// The test token with a key of this label (created on first use).
    static func token(object: String, create: Bool = true, pin: String = SoftHSM.pin) throws -> (token: PKCS11Token, created: Bool) {
        _ = try setup.get()
        return try PKCS11Token.open(module: module, uri: PKCS11URI(token: tokenLabel, object: object), pin: pin, create: create)
    }

    private static func which(_ name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") + ["/usr/bin"] {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
