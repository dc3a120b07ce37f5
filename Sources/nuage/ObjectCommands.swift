import ArgumentParser
import Foundation
import NuageAudit
import NuageCore
import NuageEngine
import NuageGateway

struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Store a file (or standard input, `-`) as BUCKET/KEY.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "BUCKET/KEY, or BUCKET/ to name the object after the file") var object: ObjectPath
    @Argument(help: "File to store, or - for standard input.") var file: String
    @Option(help: "Content type to record.") var contentType: String?

    func run() async throws {
        var object = object
        if object.key.isEmpty && file != "-" { object.key = (file as NSString).lastPathComponent }
        try object.requireKey()
        let engine = try await global.directory.engine()
        var spooled: String?
        defer { if let spooled { unlink(spooled) } }
        let body: FileDescriptorBody
        if file == "-" {
            let stdin = FileDescriptorBody(descriptor: 0)
            if stdin.regularFileSize != nil {
                body = stdin
            } else {
                // A pipe has no length and providers need one: spool it to a private file
                // (mode 0600) in the data directory, removed when the put ends.
                spooled = try Spool.capture(from: 0, in: global.directory.directory.path)
                body = try FileDescriptorBody(path: spooled!)
            }
        } else {
            body = try FileDescriptorBody(path: file)
        }
        guard let size = body.regularFileSize else {
            throw NuageError(.invalidArgument, "\(file) is not a regular file")
        }
        let progress = Progress(label: "put \(object.bucket)/\(object.key)", total: size)
        let record = try await engine.put(bucket: object.bucket, key: object.key, size: size,
                                          body: progress.counting(body),
                                          metadata: contentType.map { ["content-type": $0] } ?? [:])
        progress.finish()
        await AuditTrail.record(global.directory.directory, engine, AuditEntry(action: "object.put", actor: "cli", bucket: object.bucket,
                                                                               key: object.key, detail: "\(record.size) bytes, etag \(record.etag)"))
        print("\(object.bucket)/\(object.key)  \(record.size) bytes  etag \(record.etag)")
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write BUCKET/KEY to a file, or to standard output.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "BUCKET/KEY") var object: ObjectPath
    @Argument(help: "Destination file or directory, or - for standard output (the default).") var file: String = "-"

    func run() async throws {
        try object.requireKey()
        // Into a directory: named after the key's last segment.
        var isDirectory: ObjCBool = false
        var file = file
        if file != "-" && (file.hasSuffix("/") || (FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) && isDirectory.boolValue)) {
            let name = (object.key as NSString).lastPathComponent
            guard !name.isEmpty, name != ".", name != ".." else { throw NuageError(.invalidArgument, "\(object.key) has no file name to write into \(file)") }
            file = (file.hasSuffix("/") ? file : file + "/") + name
        }
        let engine = try await global.directory.engine()
        let reader = try await engine.get(bucket: object.bucket, key: object.key)
        let output = try OutputFile(path: file)
        let progress = Progress(label: "get \(object.bucket)/\(object.key)", total: reader.record.size)
        do {
            for try await piece in reader {
                try output.write(piece)
                progress.add(piece.count)
            }
            try output.commit()
        } catch {
            output.discard()
            throw error
        }
        progress.finish()
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List keys of BUCKET[/PREFIX], one level at a time; without one, the buckets.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "BUCKET or BUCKET/PREFIX (none: the buckets)") var location: String?
    @Flag(name: .shortAndLong, help: "List every key under the prefix, not one level.") var recursive = false
    @Flag(help: "Print JSON (exact sizes in bytes).") var json = false

    struct BucketLine: Encodable { var name: String; var created: Date }
    struct ObjectLine: Encodable { var key: String; var size: Int64; var etag: String; var modified: Date }
    struct Listing: Encodable { var prefixes: [String]; var objects: [ObjectLine] }

    func run() async throws {
        let engine = try await global.directory.engine()
        guard let location else {
            let buckets = try await engine.listBuckets()
            if json { return try printJSON(encodable: buckets.map { BucketLine(name: $0.name, created: $0.created) }) }
            for bucket in buckets { print("\(ISO8601DateFormatter().string(from: bucket.created))  \(bucket.name)/") }
            return
        }
        let bucket = String(location.prefix { $0 != "/" })
        let prefix = String(location.dropFirst(bucket.count + 1))
        var after: String?
        var listing = Listing(prefixes: [], objects: [])
        repeat {
            let page = try await engine.list(bucket: bucket, prefix: prefix, delimiter: recursive ? nil : "/", after: after)
            if json {
                listing.prefixes += page.commonPrefixes
                listing.objects += page.objects.map { ObjectLine(key: $0.key, size: $0.size, etag: $0.etag, modified: $0.modified) }
            } else {
                var lines: [(String, String)] = page.commonPrefixes.map { ($0, String(repeating: " ", count: 10) + "  \($0)") }
                lines += page.objects.map { ($0.key, "\(ByteCount.describe($0.size).leftPadded(10))  \($0.key)") }
                for line in lines.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }) { print(line.1) }
            }
            after = page.isTruncated ? page.nextMarker : nil
        } while after != nil
        if json { try printJSON(encodable: listing) }
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete BUCKET/KEY.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "BUCKET/KEY") var object: ObjectPath

    func run() async throws {
        try object.requireKey()
        let engine = try await global.directory.engine()
        _ = try await engine.head(bucket: object.bucket, key: object.key)
        try await engine.delete(bucket: object.bucket, key: object.key)
        await AuditTrail.record(global.directory.directory, engine, AuditEntry(action: "object.delete", actor: "cli", bucket: object.bucket, key: object.key))
    }
}

struct Stat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show an object's size, shards, their health and the policy verdict; exit 1 when the verdict fails.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "BUCKET/KEY") var object: ObjectPath
    @Flag(help: "Print JSON (exact sizes in bytes).") var json = false
    @Flag(help: "List every shard of every part of a multipart object (by default, a line per part).") var shards = false

    struct ShardLine: Encodable {
        var part: Int, index: Int, provider: String?, location: String?, operatorName: String?, operatorJurisdiction: String?
        var health: String, healthy: Bool, toDrain: String?
    }
    struct Rule: Encodable { var rule: String, passed: Bool, detail: String }
    struct Report: Encodable {
        var bucket: String, key: String, size: Int64, etag: String, version: String, modified: Date, parts: Int
        var dataShards: Int, parityShards: Int, segmentSize: Int, keys: String
        var scrubbedLight: Date?, scrubbedDeep: Date?
        var shards: [ShardLine]
        var verdict: [Rule]
        var passed: Bool
    }

    func run() async throws {
        try object.requireKey()
        let engine = try await global.directory.engine()
        let status = try await engine.status(bucket: object.bucket, key: object.key)
        let record = status.record, manifest = record.parts[0]
        let passed = status.verdict.allSatisfy(\.passed)
        let keys = try await engine.encryptionDescription(of: record)
        if json {
            let lines = status.shards.map { shard in
                ShardLine(part: shard.part + 1, index: shard.index, provider: shard.providerName, location: shard.provider?.jurisdiction.code,
                          operatorName: shard.provider?.operatorName, operatorJurisdiction: shard.provider?.operatorJurisdiction.code,
                          health: "\(shard.health)", healthy: shard.health == .healthy, toDrain: shard.placementNote)
            }
            try printJSON(encodable: Report(
                bucket: record.bucket, key: record.key, size: record.size, etag: record.etag, version: record.versionID.hex,
                modified: record.modified, parts: record.parts.count, dataShards: manifest.dataShards, parityShards: manifest.parityShards,
                segmentSize: manifest.segmentSize, keys: keys, scrubbedLight: status.scrubbed?.light, scrubbedDeep: status.scrubbed?.deep,
                shards: lines, verdict: status.verdict.map { Rule(rule: $0.name, passed: $0.passed, detail: $0.detail) }, passed: passed))
            if !passed { throw ExitCode.failure }
            return
        }
        print("object   \(record.bucket)/\(record.key)")
        print("size     \(ByteCount.describe(record.size)) (\(record.size) bytes), \(manifest.dataShards)+\(manifest.parityShards) shards, "
              + "segments of \(ByteCount.describe(Int64(manifest.segmentSize)))")
        if record.parts.count > 1 { print("parts    \(record.parts.count)") }
        print("etag     \(record.etag)")
        print("version  \(record.versionID.hex)")
        print("keys     \(keys)")
        let iso = ISO8601DateFormatter()
        print("modified \(iso.string(from: record.modified))")
        print("scrubbed " + (status.scrubbed.map { times in
            "light \(times.light.map(iso.string(from:)) ?? "never"), deep \(times.deep.map(iso.string(from:)) ?? "never")"
        } ?? "never"))
        print("")
        let multipart = record.parts.count > 1
        if multipart && !shards {
            // A line per part; the shards that are not healthy are named (all of them: --shards).
            print(" part        size  shards")
            for (index, part) in record.parts.enumerated() {
                let own = status.shards.filter { $0.part == index }
                let unhealthy = own.filter { $0.health != .healthy }
                print("\(String(index + 1).leftPadded(5))  \(ByteCount.describe(part.size).leftPadded(10))  "
                      + "\(own.count - unhealthy.count)/\(own.count) healthy"
                      + unhealthy.map { "; shard \($0.index) on \($0.providerName ?? "-"): \($0.health)" }.joined())
            }
            let providers = Set(status.shards.compactMap(\.providerName)).sorted()
            print("on \(providers.joined(separator: ", ")) (every shard: nuage stat --shards)")
        } else {
            print((multipart ? " part  " : "") + "shard  provider        location  operator                        health")
            for shard in status.shards {
                let location = shard.provider?.jurisdiction.code ?? "-"
                let operatorText = shard.provider.map { "\($0.operatorName) (\($0.operatorJurisdiction))" } ?? "-"
                print((multipart ? String(shard.part + 1).leftPadded(5) + "  " : "")
                      + "\(String(shard.index).leftPadded(5))  \((shard.providerName ?? "-").rightPadded(14))  \(location.rightPadded(8))  \(operatorText.rightPadded(30))  \(shard.health)"
                      + (shard.placementNote.map { "  [to drain: \($0)]" } ?? ""))
            }
        }
        print("")
        for rule in status.verdict {
            print("\(rule.passed ? "pass" : "FAIL")  \(rule.name): \(rule.detail)")
        }
        if !passed { throw ExitCode.failure }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
    func rightPadded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
