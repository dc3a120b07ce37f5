import Foundation
import Testing

/// Drives the built `nuage` binary the way a user does.
struct NuageCommand {
    let data: String
    let workdir: String

    static var binary: String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // The test bundle sits in .build/<triple>/debug/ (or inside a .xctest directory there).
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("nuage").path), directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("nuage").path
    }

    /// - Parameter initialized: run `nuage init` on the data directory first.
    init(initialized: Bool = true) throws {
        workdir = NSTemporaryDirectory() + "nuage-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: workdir, withIntermediateDirectories: true)
        data = workdir + "/data"
        if initialized {
            let result = try run(["init"])
            guard result.status == 0 else { throw CLIError.initFailed(result.stderr) }
        }
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: workdir) }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `nuage ARGUMENTS` in the work directory on this data directory, not started yet.
    func process(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw CLIError.missingBinary("the nuage binary was not found next to the tests (\(binary)); run `swift build` first")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: workdir)
        process.environment = ProcessInfo.processInfo.environment.merging(["NUAGE_DATA": data]) { $1 }.merging(environment) { $1 }
        return process
    }

    @discardableResult
    func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) throws -> Result {
        let process = try process(arguments, environment: environment)
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    enum CLIError: Error { case missingBinary(String), initFailed(String) }
}

@Suite(.serialized) struct CommandLineTests {
    @Test func initCreatesThePrivateDataDirectory() throws {
        let nuage = try NuageCommand(initialized: false)
        defer { nuage.cleanUp() }
        let result = try nuage.run(["init"])
        #expect(result.status == 0, "\(result.stderr)")
        let key = try FileManager.default.attributesOfItem(atPath: nuage.data + "/master.key")
        #expect(key[.posixPermissions] as? Int == 0o600)
        for name in ["nuage.toml", "catalog.sqlite", "providers/us-east", "providers/cn-hangzhou"] {
            #expect(FileManager.default.fileExists(atPath: nuage.data + "/" + name), "\(name)")
        }
        let again = try nuage.run(["init"])
        #expect(again.status == 1 && again.stderr.contains("already initialised"))
    }

    @Test func storeAndReadBackFilesAndPipes() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        let content = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) })
        FileManager.default.createFile(atPath: nuage.workdir + "/in.bin", contents: content)
        #expect(try nuage.run(["bucket", "create", "films"]).status == 0)
        let put = try nuage.run(["put", "films/2026/a.bin", "in.bin"])
        #expect(put.status == 0, "\(put.stderr)")
        #expect(put.stdout.contains("3000000 bytes"))
        #expect(try nuage.run(["get", "films/2026/a.bin", "out.bin"]).status == 0)
        #expect(FileManager.default.contents(atPath: nuage.workdir + "/out.bin") == content)

        let piped = try nuage.run(["put", "films/notes.txt", "-"], stdin: Data("from a pipe\n".utf8))
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(try nuage.run(["get", "films/notes.txt"]).stdout == "from a pipe\n")
        // A device is written in place, never replaced by a rename.
        let fifo = nuage.workdir + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/bin/sh")
        reader.arguments = ["-c", "cat \(fifo) > \(fifo).copy"]
        try reader.run()
        #expect(try nuage.run(["get", "films/notes.txt", fifo]).status == 0)
        reader.waitUntilExit()
        #expect(FileManager.default.contents(atPath: fifo + ".copy") == Data("from a pipe\n".utf8))
        var info = stat()
        #expect(stat(fifo, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO, "the FIFO is still a FIFO")
        let spool = try FileManager.default.contentsOfDirectory(atPath: nuage.data).filter { $0.hasPrefix(".spool") }
        #expect(spool.isEmpty, "the stdin spool file is removed")

        let listing = try nuage.run(["ls", "films"])
        #expect(listing.stdout.contains("2026/") && listing.stdout.contains("notes.txt"))
        #expect(try nuage.run(["ls", "-r", "films"]).stdout.contains("2026/a.bin"))
        #expect(try nuage.run(["bucket", "ls"]).stdout.contains("films"))

        let stat = try nuage.run(["stat", "films/2026/a.bin"])
        #expect(stat.status == 0)
        #expect(stat.stdout.components(separatedBy: "healthy").count - 1 == 6, "\(stat.stdout)")
        #expect(stat.stdout.contains("pass  survive-jurisdiction-loss"))
        #expect(!stat.stdout.contains("cn-hangzhou"))

        let providers = try nuage.run(["providers"])
        #expect(providers.stdout.contains("excluded by policy: located in denied jurisdiction CN"))
        #expect(providers.stdout.contains("active"))

        #expect(try nuage.run(["rm", "films/2026/a.bin"]).status == 0)
        let missing = try nuage.run(["get", "films/2026/a.bin", "gone.bin"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "nuage: no object 2026/a.bin in bucket films\n")
        #expect(!FileManager.default.fileExists(atPath: nuage.workdir + "/gone.bin"))
        #expect(try nuage.run(["gc"]).stdout.contains("orphans deleted 0"))
    }

    /// `ls`, `stat` and `providers` in JSON with exact bytes and as text with readable sizes;
    /// `stat` exits 1 when the verdict fails (a multipart object's summary: test_operate.py).
    @Test func jsonReadableSizesAndFailingVerdicts() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        let file = nuage.workdir + "/blob"
        try Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }).write(to: URL(fileURLWithPath: file))
        #expect(try nuage.run(["bucket", "create", "abc"]).status == 0)
        #expect(try nuage.run(["put", "abc/big", file]).status == 0)
        let listing = try JSONSerialization.jsonObject(with: Data(try nuage.run(["ls", "abc", "--json"]).stdout.utf8)) as? [String: Any]
        let objects = listing?["objects"] as? [[String: Any]] ?? []
        #expect(objects.count == 1 && objects.first?["key"] as? String == "big" && objects.first?["size"] as? Int == 3_000_000, "\(String(describing: listing))")
        #expect(try nuage.run(["ls", "abc"]).stdout.contains("2.9 MiB  big"))
        let buckets = try JSONSerialization.jsonObject(with: Data(try nuage.run(["ls", "--json"]).stdout.utf8)) as? [[String: Any]]
        #expect(buckets?.map { $0["name"] as? String } == ["abc"])

        let text = try nuage.run(["stat", "abc/big"])
        #expect(text.status == 0 && text.stdout.contains("size     2.9 MiB (3000000 bytes)"), "\(text.stdout)")
        let stat = try JSONSerialization.jsonObject(with: Data(try nuage.run(["stat", "abc/big", "--json"]).stdout.utf8)) as? [String: Any]
        #expect(stat?["size"] as? Int == 3_000_000 && stat?["passed"] as? Bool == true)
        let shards = stat?["shards"] as? [[String: Any]] ?? []
        #expect(shards.count == 6 && shards.allSatisfy { $0["healthy"] as? Bool == true })

        let providers = try JSONSerialization.jsonObject(with: Data(try nuage.run(["providers", "--json"]).stdout.utf8)) as? [String: Any]
        let lines = providers?["providers"] as? [[String: Any]] ?? []
        #expect(lines.count == 8 && (providers?["jurisdictions"] as? [[String: Any]])?.isEmpty == false)
        let stored = lines.compactMap { $0["bytesStored"] as? Int }.reduce(0, +)
        #expect(stored >= 3_000_000 * 6 / 4, "six shards of a quarter of the object each, at least")
        #expect(try nuage.run(["providers"]).stdout.contains("4+2 erasure coding stores 1.50×"))

        // Denying the country of a provider that holds a shard fails the verdict: exit 1.
        let holder = try #require(shards.first?["location"] as? String)
        let path = nuage.data + "/nuage.toml"
        let config = try String(contentsOfFile: path, encoding: .utf8)
        try config.replacingOccurrences(of: "deny = [\"us-icts\"]", with: "deny = [\"us-icts\", \"\(holder)\"]")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let failing = try nuage.run(["stat", "abc/big"])
        #expect(failing.status == 1 && failing.stdout.contains("FAIL  deny"), "\(failing.stdout) \(failing.stderr)")
        let failingJSON = try nuage.run(["stat", "abc/big", "--json"])
        #expect(failingJSON.status == 1)
        #expect((try JSONSerialization.jsonObject(with: Data(failingJSON.stdout.utf8)) as? [String: Any])?["passed"] as? Bool == false)
    }

    @Test func userMistakesAreOneLineAndExitOne() throws {
        let nuage = try NuageCommand(initialized: false)
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["init"]).status == 0)
        for arguments in [["put", "nobucketslash", "x"], ["bucket", "create", "Bad_Name"], ["get", "none/x"],
                          ["bucket", "rm", "none"], ["put", "none/k", "/nonexistent/file"], ["frobnicate"]] {
            let result = try nuage.run(arguments)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("nuage: ") && result.stderr.split(separator: "\n").count == 1,
                    "\(arguments): \(result.stderr)")
        }
        #expect(try nuage.run(["--help"]).status == 0)
    }

    /// Every file under the providers' directories (blobs and temporary files), with its size.
    /// Shard blob files on the demo providers (the catalog journal's `j-…` and `s-…` and the audit log's `a-…` left out).
    func providerFiles(_ nuage: NuageCommand) -> [String: Int] {
        let base = nuage.data + "/providers"
        var files: [String: Int] = [:]
        for case let relative as String in FileManager.default.enumerator(atPath: base)?.allObjects ?? []
        where !["j-", "s-", "a-"].contains(where: { (relative as NSString).lastPathComponent.hasPrefix($0) }) {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: "\(base)/\(relative)"),
                  attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            files[relative] = (attributes[.size] as? Int) ?? 0
        }
        return files
    }

    /// A `nuage put` killed (SIGKILL) while its shards are being written: no object is visible,
    /// and `gc --grace 0` leaves no file on any provider. If the put won the race and finished
    /// first, the object reads back whole.
    @Test func killedPutIsInvisibleAndGCRemovesWhatItLeft() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["bucket", "create", "crash"]).status == 0)
        let source = nuage.workdir + "/big.bin"
        let mebibyte = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 12)) }
        var content = Data()
        for i in 0..<96 { content.append(contentsOf: mebibyte.map { $0 ^ UInt8(i) }) }
        try content.write(to: URL(fileURLWithPath: source))
        let put = try nuage.process(["put", "crash/big", source])
        put.standardOutput = FileHandle.nullDevice
        put.standardError = FileHandle.nullDevice
        try put.run()
        // Kill once several MiB of shards are on the providers' disks.
        let deadline = Date().addingTimeInterval(120)
        while put.isRunning, providerFiles(nuage).values.reduce(0, +) < 8 << 20, Date() < deadline { usleep(2000) }
        let leftBehind = providerFiles(nuage)
        kill(put.processIdentifier, SIGKILL)
        put.waitUntilExit()

        if put.terminationReason == .uncaughtSignal {
            #expect(!leftBehind.isEmpty, "the put was killed after it wrote shards")
            #expect(try nuage.run(["get", "crash/big", "out.bin"]).stderr == "nuage: no object big in bucket crash\n")
            #expect(try nuage.run(["ls", "crash"]).stdout.isEmpty)
            let gc = try nuage.run(["gc", "--grace", "0"])
            #expect(gc.status == 0 && gc.stdout.contains("abandoned puts 1"), "\(gc.stdout)\(gc.stderr)")
            #expect(providerFiles(nuage).isEmpty, "left after gc: \(providerFiles(nuage))")
            #expect(try nuage.run(["bucket", "rm", "crash"]).status == 0, "the bucket is empty")
        } else {
            #expect(put.terminationStatus == 0)
            #expect(try nuage.run(["get", "crash/big", "out.bin"]).status == 0)
            #expect(FileManager.default.contents(atPath: nuage.workdir + "/out.bin") == content)
        }
    }

    /// Only `init` creates a data directory: a mistyped `--data` (or `$NUAGE_DATA`) is an error
    /// that creates nothing, not a new directory with a new master key; likewise a directory
    /// provider whose path does not exist.
    @Test func aMistypedDataDirectoryOrProviderPathIsAnError() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        let typo = nuage.workdir + "/dtaa"
        for arguments in [["bucket", "create", "x"], ["serve"], ["keys", "ls"], ["put", "x/y", "-"], ["policy", "check"], ["providers", "check"]] {
            let result = try nuage.run(arguments + ["--data", typo])
            #expect(result.status == 1 && result.stderr.contains("no Nuage data directory at \(typo)") && result.stderr.contains("nuage init"),
                    "\(arguments): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: typo), "\(arguments) created nothing")
        }
        let config = try String(contentsOfFile: nuage.data + "/nuage.toml", encoding: .utf8)
        try config.replacingOccurrences(of: "path = \"providers/eu-paris\"", with: "path = \"providers/eu-pars\"")
            .write(toFile: nuage.data + "/nuage.toml", atomically: true, encoding: .utf8)
        let result = try nuage.run(["bucket", "create", "x"])
        #expect(result.status == 1 && result.stderr.contains("provider eu-paris: directory") && result.stderr.contains("does not exist"),
                "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: nuage.data + "/providers/eu-pars"))
    }

    /// The master key split into five shares; any three rebuild it in another directory; a
    /// mistyped share, too few shares and an existing different key are refused.
    @Test func theMasterKeySplitAndJoined() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        let split = try nuage.run(["keys", "split-master", "--shares", "5", "--threshold", "3"])
        #expect(split.status == 0, "\(split.stderr)")
        let lines = split.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5 && lines.allSatisfy { $0.hasPrefix("nuage-share-1-") })
        let original = FileManager.default.contents(atPath: nuage.data + "/master.key")
        let elsewhere = nuage.workdir + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        func join(_ input: [String]) throws -> NuageCommand.Result {
            try nuage.run(["keys", "join-master", "--data", elsewhere], stdin: Data((input.joined(separator: "\n") + "\n").utf8))
        }
        var typo = Array(lines[2])
        typo[40] = typo[40] == "a" ? "b" : "a"
        let mistyped = try join([lines[0], String(typo), lines[4]])
        #expect(mistyped.status == 1 && mistyped.stderr.contains("mistyped"), "\(mistyped.stderr)")
        let tooFew = try join([lines[0], lines[4]])
        #expect(tooFew.status == 1 && tooFew.stderr.contains("3 are needed"), "\(tooFew.stderr)")
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/master.key"))
        let joined = try join([lines[4], lines[0], lines[2]])
        #expect(joined.status == 0, "\(joined.stderr)")
        #expect(FileManager.default.contents(atPath: elsewhere + "/master.key") == original)
        let mode = try FileManager.default.attributesOfItem(atPath: elsewhere + "/master.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // A directory with another key keeps it.
        let other = try nuage.run(["keys", "join-master", "--data", nuage.data], stdin: Data("\(lines[0])\n\(lines[1])\n\(lines[3])\n".utf8))
        #expect(other.status == 0 && other.stdout.contains("already holds this key"))
        try FileManager.default.removeItem(atPath: elsewhere + "/master.key")
        FileManager.default.createFile(atPath: elsewhere + "/master.key", contents: Data(repeating: 1, count: 32), attributes: [.posixPermissions: 0o600])
        let refused = try join([lines[1], lines[2], lines[3]])
        #expect(refused.status == 1 && refused.stderr.contains("holds another key"), "\(refused.stderr)")
    }

    /// A rotation on the embedded default: objects, the access key, the audit log and a recovery
    /// all work with the old key retired; retiring the active key is refused.
    @Test func theMasterKeyRotatedAndTheOldOneRetired() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["bucket", "create", "abc"]).status == 0)
        let data = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 11) })
        FileManager.default.createFile(atPath: nuage.workdir + "/in", contents: data)
        #expect(try nuage.run(["put", "abc/obj", nuage.workdir + "/in"]).status == 0)
        #expect(try nuage.run(["keys", "create", "--name", "app"]).status == 0)
        let oldKey = try Data(contentsOf: URL(fileURLWithPath: nuage.data + "/master.key"))
        let rotate = try nuage.run(["keys", "rotate-master"])
        #expect(rotate.status == 0 && rotate.stdout.contains("none re-encrypted"), "\(rotate.stdout)\(rotate.stderr)")
        let ids = rotate.stdout.split(separator: "\n")[0].split(separator: " ")
        let (newID, oldID) = (String(ids[2]), String(ids[5]))
        #expect(try Data(contentsOf: URL(fileURLWithPath: nuage.data + "/master.key.d/\(oldID).key")) == oldKey)
        let active = try nuage.run(["keys", "retire-master", newID])
        #expect(active.status == 1 && active.stdout.contains("it is the active key"), "\(active.stdout)")
        let retire = try nuage.run(["keys", "retire-master", oldID])
        #expect(retire.status == 0, "\(retire.stdout)\(retire.stderr)")
        #expect(!FileManager.default.fileExists(atPath: nuage.data + "/master.key.d/\(oldID).key"))
        #expect(try nuage.run(["get", "abc/obj", nuage.workdir + "/out"]).status == 0)
        #expect(FileManager.default.contents(atPath: nuage.workdir + "/out") == data)
        #expect(try nuage.run(["scrub", "--deep"]).status == 0)
        let verify = try nuage.run(["audit", "verify", "--from-providers"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        for name in try FileManager.default.contentsOfDirectory(atPath: nuage.data) where name.hasPrefix("catalog.sqlite") {
            try FileManager.default.removeItem(atPath: nuage.data + "/" + name)
        }
        let recover = try nuage.run(["recover"])
        #expect(recover.status == 0 && recover.stdout.contains("1 object(s)") && recover.stdout.contains("1 access key(s)"), "\(recover.stdout)\(recover.stderr)")
        #expect(try nuage.run(["get", "abc/obj", nuage.workdir + "/out2"]).status == 0)
        #expect(FileManager.default.contents(atPath: nuage.workdir + "/out2") == data)
    }

    @Test func versionAndBareLsListBuckets() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        let version = try nuage.run(["--version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("nuage ") && version.stdout.contains("catalog schema v15"), "\(version.stdout)")
        #expect(try nuage.run(["bucket", "create", "first"]).status == 0)
        #expect(try nuage.run(["bucket", "create", "second"]).status == 0)
        let listed = try nuage.run(["ls"])
        #expect(listed.status == 0 && listed.stdout.hasSuffix("  first/\n") == false && listed.stdout.contains("  first/\n") && listed.stdout.contains("  second/\n"),
                "\(listed.stdout)\(listed.stderr)")
    }

    /// What a new user types: `put B/ FILE` names the object after the file, `get B/K DIR`
    /// writes into the directory, a missing key, a duplicate provider name and a busy port are
    /// said plainly.
    @Test func firstHourCommandsSayWhatIsMeant() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["bucket", "create", "abc"]).status == 0)
        FileManager.default.createFile(atPath: nuage.workdir + "/notes.txt", contents: Data("hello\n".utf8))
        let put = try nuage.run(["put", "abc/", nuage.workdir + "/notes.txt"])
        #expect(put.status == 0 && put.stdout.hasPrefix("abc/notes.txt "), "\(put.stdout)\(put.stderr)")
        try FileManager.default.createDirectory(atPath: nuage.workdir + "/into", withIntermediateDirectories: true)
        #expect(try nuage.run(["get", "abc/notes.txt", nuage.workdir + "/into"]).status == 0)
        #expect(FileManager.default.contents(atPath: nuage.workdir + "/into/notes.txt") == Data("hello\n".utf8))
        for arguments in [["get", "abc/"], ["rm", "abc/"], ["stat", "abc/"], ["put", "abc/", "-"]] {
            let missing = try nuage.run(arguments)
            #expect(missing.status == 1 && missing.stderr == "nuage: abc/ names no object: give BUCKET/KEY, e.g. abc/notes.txt\n", "\(arguments): \(missing.stderr)")
        }
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        _ = listen(listener, 1)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let busy = try nuage.run(["serve", "--listen", "127.0.0.1:\(port)"])
        #expect(busy.status == 1 && busy.stderr.contains("port \(port) on 127.0.0.1 is in use"), "\(busy.stderr)")
        let path = nuage.data + "/nuage.toml"
        try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "name = \"eu-paris\"", with: "name = \"eu-frankfurt\"")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let duplicate = try nuage.run(["bucket", "ls"])
        #expect(duplicate.status == 1 && duplicate.stderr.contains("eu-frankfurt is used more than once"), "\(duplicate.stderr)")
    }

    /// An S3 provider whose credential variables are not set in this shell: commands that do
    /// not touch it run; checking it says what is missing.
    @Test func commandsThatTouchNoProviderNeedNoCredentials() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["bucket", "create", "abc"]).status == 0)
        let path = nuage.data + "/nuage.toml"
        try (String(contentsOfFile: path, encoding: .utf8) + """

            [[provider]]
            name = "s3-nz"
            kind = "s3"
            endpoint = "http://127.0.0.1:9"
            bucket = "nuage"
            access-key-env = "NUAGE_TEST_UNSET_ACCESS"
            secret-key-env = "NUAGE_TEST_UNSET_SECRET"
            jurisdiction = "NZ"
            operator = "Somewhere Ltd"
            operator-jurisdiction = "NZ"

            """).write(toFile: path, atomically: true, encoding: .utf8)
        for arguments in [["keys", "ls"], ["bucket", "ls"], ["ls"], ["policy", "check"]] {
            let result = try nuage.run(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
        let check = try nuage.run(["providers", "check", "s3-nz"])
        #expect(check.status != 0 && (check.stdout + check.stderr).contains("NUAGE_TEST_UNSET_ACCESS"), "\(check.stdout)\(check.stderr)")
    }

    /// Another data directory's master.key is named as such, by serve before it starts and by a read.
    @Test func aWrongMasterKeyIsSaidToBeWrong() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["bucket", "create", "abc"]).status == 0)
        #expect(try nuage.run(["put", "abc/k", "-"], stdin: Data("x".utf8)).status == 0)
        try FileManager.default.removeItem(atPath: nuage.data + "/master.key")
        FileManager.default.createFile(atPath: nuage.data + "/master.key", contents: Data((0..<32).map { UInt8($0) }),
                                       attributes: [.posixPermissions: 0o600])
        let serve = try nuage.run(["serve", "--listen", "127.0.0.1:0"])
        #expect(serve.status == 1 && serve.stderr.contains("does not match this catalog"), "\(serve.stderr)")
        let get = try nuage.run(["get", "abc/k"])
        #expect(get.status == 1 && get.stderr.contains("which this gateway does not hold"), "\(get.stderr)")
    }

    /// `--data DIR` is global: before the command as after it, over `NUAGE_DATA`.
    @Test func dataDirectoryBeforeOrAfterTheCommand() throws {
        let nuage = try NuageCommand(initialized: false)
        defer { nuage.cleanUp() }
        let before = nuage.workdir + "/before", after = nuage.workdir + "/after"
        #expect(try nuage.run(["init", "--data", before]).status == 0)
        #expect(try nuage.run(["--data", after, "init"]).status == 0)
        #expect(try nuage.run(["--data", before, "bucket", "create", "one"]).status == 0)
        #expect(try nuage.run(["--data=\(after)", "bucket", "create", "two"]).status == 0)
        #expect(try nuage.run(["bucket", "ls", "--data", before]).stdout.contains("one"))
        let listed = try nuage.run(["--data", after, "bucket", "ls"]).stdout
        #expect(listed.hasSuffix("  two  owner nuage\n") && !listed.contains("one"), "\(listed)")
        #expect(!FileManager.default.fileExists(atPath: nuage.data), "NUAGE_DATA was not used")
        let missing = try nuage.run(["--data"])
        #expect(missing.status == 1 && missing.stderr.hasPrefix("nuage: --data needs a directory"), "\(missing.stderr)")
    }

    /// `bench pipeline` runs every phase on a small object (it checks the bytes it reads back)
    /// and reports each figure the README names.
    @Test func pipelineBenchmarkReportsEveryFigure() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        let run = try nuage.run(["bench", "pipeline", "--size", "3000001", "--directory", nuage.workdir, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Double] ?? [:]
        for key in ["put_mbps", "put_md5_mbps", "get_mbps", "copy_mbps", "write_behind_copy_mbps", "put_ratio",
                    "put_md5_ratio", "get_ratio", "put_ratio_write_behind", "get_ratio_write_behind", "peak_rss_mib"] {
            #expect((json[key] ?? 0) > 0, "\(key) in \(run.stdout)")
        }
        #expect(json["size"] == 3000001)
        let left = try FileManager.default.contentsOfDirectory(atPath: nuage.workdir).filter { $0.hasPrefix("nuage-bench-") }
        #expect(left.isEmpty, "the benchmark removes its directory: \(left)")
    }

    /// A policy the providers cannot meet any more explains itself and stops writes, never reads.
    @Test func anInfeasiblePolicyStopsWritesNotReads() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["policy", "check"]).stdout.contains("pass  survive-jurisdiction-loss"))
        let file = nuage.workdir + "/hello.txt"
        try "hello".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try nuage.run(["bucket", "create", "abc"]).status == 0)
        #expect(try nuage.run(["put", "abc/hello", file]).status == 0)
        let path = nuage.data + "/nuage.toml"
        var config = try String(contentsOfFile: path, encoding: .utf8)
        config = config.replacingOccurrences(of: "data-shards = 4 ", with: "data-shards = 6 ")
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let check = try nuage.run(["policy", "check"])
        #expect(check.status == 1)
        #expect(check.stderr.isEmpty, "the report says why; nothing more on stderr: \(check.stderr)")
        #expect(check.stdout.contains("FAIL  distinct-providers: 8 shards (k = 6, m = 2) need 8 distinct eligible providers; 7 eligible"), "\(check.stdout)")
        let put = try nuage.run(["put", "abc/again", file])
        #expect(put.status == 1 && put.stderr.contains("new objects cannot be placed under the policy"), "\(put.stderr)")
        #expect(try nuage.run(["get", "abc/hello"]).stdout == "hello", "reads go on")
        #expect(try nuage.run(["ls", "abc"]).stdout.contains("hello"))
        #expect(try nuage.run(["rm", "abc/hello"]).status == 0)
    }

    /// The demo, with countries denied one after the other until new objects cannot be placed:
    /// every object still reads, puts get the clear error, and a provider added makes puts work.
    @Test func denyingCountriesUntilNothingFitsStopsOnlyWrites() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["bucket", "create", "abc"]).status == 0)
        var contents: [String: Data] = [:]
        for i in 0..<6 {
            let data = Data((0..<(i * 50_000 + 1)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) })
            FileManager.default.createFile(atPath: nuage.workdir + "/f\(i)", contents: data)
            #expect(try nuage.run(["put", "abc/f\(i)", nuage.workdir + "/f\(i)"]).status == 0)
            contents["f\(i)"] = data
        }
        let path = nuage.data + "/nuage.toml"
        func deny(_ list: String) throws {
            let config = try String(contentsOfFile: path, encoding: .utf8)
            let line = config.split(separator: "\n").first { $0.hasPrefix("deny = ") }!
            try config.replacingOccurrences(of: String(line), with: "deny = [\(list)]").write(toFile: path, atomically: true, encoding: .utf8)
        }
        func everythingReads() throws {
            for (key, data) in contents {
                #expect(try nuage.run(["get", "abc/\(key)", nuage.workdir + "/out"]).status == 0)
                #expect(FileManager.default.contents(atPath: nuage.workdir + "/out") == data, "\(key)")
            }
        }
        try deny("\"us-icts\", \"CH\"")
        #expect(try nuage.run(["policy", "check"]).status == 0, "six eligible providers still place 4 + 2")
        #expect(try nuage.run(["put", "abc/g1", nuage.workdir + "/f1"]).status == 0)
        try everythingReads()
        try deny("\"us-icts\", \"CH\", \"JP\"")
        #expect(try nuage.run(["policy", "check"]).status == 1)
        let refused = try nuage.run(["put", "abc/g2", nuage.workdir + "/f1"])
        #expect(refused.status == 1 && refused.stderr.contains("new objects cannot be placed under the policy"), "\(refused.stderr)")
        try everythingReads()
        #expect(try nuage.run(["ls", "abc"]).stdout.contains("g1"))
        // A provider in another country: puts work again.
        let added = try nuage.run(["providers", "add", "nz-auckland", "--kind", "directory", "--path", "providers/nz-auckland",
                                   "--jurisdiction", "NZ", "--operator", "Demo Storage NZ Ltd", "--operator-jurisdiction", "NZ"])
        #expect(added.status == 0, "\(added.stdout)\(added.stderr)")
        #expect(try nuage.run(["policy", "check"]).status == 0)
        #expect(try nuage.run(["put", "abc/g2", nuage.workdir + "/f1"]).status == 0)
        #expect(try nuage.run(["get", "abc/g2", nuage.workdir + "/out"]).status == 0)
        #expect(FileManager.default.contents(atPath: nuage.workdir + "/out") == contents["f1"])
        try everythingReads()
    }

    /// A provider whose block is deleted from nuage.toml while objects still have shards on it:
    /// reads go on, `providers` and `stat` explain it, and a drain by name moves its shards.
    @Test func aProviderRemovedFromTheConfigurationIsExplainedAndDrainedByName() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["bucket", "create", "abc"]).status == 0)
        var contents: [String: Data] = [:]
        for i in 0..<8 {
            let data = Data((0..<(i * 30_000 + 5)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ i) })
            FileManager.default.createFile(atPath: nuage.workdir + "/f\(i)", contents: data)
            #expect(try nuage.run(["put", "abc/f\(i)", nuage.workdir + "/f\(i)"]).status == 0)
            contents["f\(i)"] = data
        }
        let path = nuage.data + "/nuage.toml"
        let config = try String(contentsOfFile: path, encoding: .utf8)
        let start = config.range(of: "[[provider]]\nname = \"eu-paris\"")!.lowerBound
        let end = config.range(of: "[[provider]]", range: config.index(after: start)..<config.endIndex)!.lowerBound
        try (String(config[..<start]) + String(config[end...])).write(toFile: path, atomically: true, encoding: .utf8)
        for (key, data) in contents {
            #expect(try nuage.run(["get", "abc/\(key)", nuage.workdir + "/out"]).status == 0)
            #expect(FileManager.default.contents(atPath: nuage.workdir + "/out") == data, "\(key)")
        }
        let listed = try nuage.run(["providers"]).stdout
        #expect(listed.contains("eu-paris        not configured, but shards of") && listed.contains("nuage providers drain eu-paris"), "\(listed)")
        let stats = try contents.keys.map { try nuage.run(["stat", "abc/\($0)"]).stdout }
        #expect(stats.contains { $0.contains("eu-paris") && $0.contains("[to drain: no longer configured: drain it by name]") }, "\(stats)")
        let drain = try nuage.run(["providers", "drain", "eu-paris"])
        #expect(drain.status == 0 && drain.stdout.contains("no object references eu-paris any more"), "\(drain.stdout)\(drain.stderr)")
        #expect(!(try nuage.run(["providers"]).stdout.contains("not configured")))
        #expect(try nuage.run(["repair"]).stdout.hasPrefix("repaired 0 shard(s)"))
        for (key, data) in contents {
            #expect(try nuage.run(["get", "abc/\(key)", nuage.workdir + "/out"]).status == 0)
            #expect(FileManager.default.contents(atPath: nuage.workdir + "/out") == data, "\(key)")
        }
    }

    /// The drain benchmark reports every figure; rebuilding reads k shards per shard written,
    /// copying from the source one.
    @Test func drainBenchmarkReportsEveryFigure() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        let run = try nuage.run(["bench", "drain", "--size", "3000000", "--object-size", "300000", "--reads", "5", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] ?? [:]
        for key in ["put_mbps", "p99_ratio", "file_copy_mbps", "rebuild_vs_file_copy"] {
            #expect((json[key] as? Double ?? 0) > 0, "\(key) in \(run.stdout)")
        }
        let rebuild = json["rebuild"] as? [String: Any] ?? [:], copy = json["copy_from_source"] as? [String: Any] ?? [:]
        #expect((rebuild["shards"] as? Int ?? 0) > 0 && (rebuild["mbps"] as? Double ?? 0) > 0, "\(run.stdout)")
        #expect(rebuild["read_amplification"] as? Double == 4 && copy["read_amplification"] as? Double == 1, "\(run.stdout)")
        #expect(((json["during"] as? [String: Any])?["gets"] as? Int ?? 0) > 0)
    }

    /// The demo, a provider marked draining: `providers drain` empties it, and every object reads
    /// back with its directory gone.
    @Test func aDrainedProviderCanBeRemoved() throws {
        let nuage = try NuageCommand()
        defer { nuage.cleanUp() }
        #expect(try nuage.run(["bucket", "create", "abc"]).status == 0)
        var contents: [String: Data] = [:]
        for i in 0..<12 {
            let data = Data((0..<(i * 37_000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
            let file = nuage.workdir + "/f\(i)"
            FileManager.default.createFile(atPath: file, contents: data)
            #expect(try nuage.run(["put", "abc/f\(i)", file]).status == 0)
            contents["f\(i)"] = data
        }
        let refused = try nuage.run(["providers", "drain", "eu-paris"])
        #expect(refused.status == 1 && refused.stderr.contains("state = \"draining\""), "\(refused.stderr)")
        let path = nuage.data + "/nuage.toml"
        let config = try String(contentsOfFile: path, encoding: .utf8)
        try config.replacingOccurrences(of: "name = \"eu-paris\"", with: "name = \"eu-paris\"\nstate = \"draining\"")
            .write(toFile: path, atomically: true, encoding: .utf8)
        // `stat` marks the shards to drain, and says when the object was last scrubbed.
        let before = try contents.keys.map { try nuage.run(["stat", "abc/\($0)"]).stdout }
        #expect(before.contains { $0.contains("eu-paris") && $0.contains("[to drain: draining]") }, "\(before)")
        #expect(before.allSatisfy { $0.contains("scrubbed never") }, "\(before[0])")
        #expect(try nuage.run(["scrub"]).status == 0)
        #expect(try nuage.run(["stat", "abc/f3"]).stdout.contains("scrubbed light 20"))
        let plan = try nuage.run(["providers", "drain", "eu-paris", "--dry-run"])
        #expect(plan.status == 0 && plan.stdout.hasPrefix("left to drain on eu-paris:"), "\(plan.stdout)\(plan.stderr)")
        let drain = try nuage.run(["providers", "drain", "eu-paris", "--json"])
        #expect(drain.status == 0, "\(drain.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(drain.stdout.utf8)) as? [String: Any] ?? [:]
        #expect((report["shards"] as? Int ?? 0) > 0 && (report["failed"] as? [String]) == [], "\(drain.stdout)")
        let after = try contents.keys.map { try nuage.run(["stat", "abc/\($0)"]).stdout }
        #expect(!after.contains { $0.contains("to drain") }, "\(after)")
        // It goes: its block from nuage.toml, its directory from the disk.
        try FileManager.default.removeItem(atPath: nuage.data + "/providers/eu-paris")
        let drained = try String(contentsOfFile: path, encoding: .utf8)
        let block = drained.range(of: "[[provider]]\nname = \"eu-paris\"")!.lowerBound
        let next = drained.range(of: "[[provider]]", range: drained.index(after: block)..<drained.endIndex)!.lowerBound
        try (String(drained[..<block]) + String(drained[next...])).write(toFile: path, atomically: true, encoding: .utf8)
        for (key, data) in contents {
            let get = try nuage.run(["get", "abc/\(key)", nuage.workdir + "/out-\(key)"])
            #expect(get.status == 0, "\(key): \(get.stderr)")
            #expect(FileManager.default.contents(atPath: nuage.workdir + "/out-\(key)") == data)
        }
        #expect(try nuage.run(["providers", "drain", "eu-paris"]).stdout.contains("0 shard(s)"), "nothing left to move")
    }
}
