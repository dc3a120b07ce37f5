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
        let engine = try global.directory.engine()
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
        let engine = try global.directory.engine()
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

    func run() async throws {
        let engine = try global.directory.engine()
        guard let location else {
            for bucket in try await engine.listBuckets() { print("\(ISO8601DateFormatter().string(from: bucket.created))  \(bucket.name)/") }
            return
        }
        let bucket = String(location.prefix { $0 != "/" })
        let prefix = String(location.dropFirst(bucket.count + 1))
        var after: String?
        repeat {
            let page = try await engine.list(bucket: bucket, prefix: prefix, delimiter: recursive ? nil : "/", after: after)
            var lines: [(String, String)] = page.commonPrefixes.map { ($0, String(repeating: " ", count: 12) + "  \($0)") }
            lines += page.objects.map { ($0.key, "\(String($0.size).leftPadded(12))  \($0.key)") }
            for line in lines.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }) { print(line.1) }
            after = page.isTruncated ? page.nextMarker : nil
        } while after != nil
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete BUCKET/KEY.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "BUCKET/KEY") var object: ObjectPath

    func run() async throws {
        try object.requireKey()
        let engine = try global.directory.engine()
        _ = try await engine.head(bucket: object.bucket, key: object.key)
        try await engine.delete(bucket: object.bucket, key: object.key)
        await AuditTrail.record(global.directory.directory, engine, AuditEntry(action: "object.delete", actor: "cli", bucket: object.bucket, key: object.key))
    }
}

struct Stat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an object's size, shards, their health and the policy verdict.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "BUCKET/KEY") var object: ObjectPath

    func run() async throws {
        try object.requireKey()
        let engine = try global.directory.engine()
        let status = try await engine.status(bucket: object.bucket, key: object.key)
        let record = status.record, manifest = record.parts[0]
        print("object   \(record.bucket)/\(record.key)")
        print("size     \(record.size) bytes, \(manifest.dataShards)+\(manifest.parityShards) shards, segments of \(manifest.segmentSize) bytes")
        if record.parts.count > 1 { print("parts    \(record.parts.count)") }
        print("etag     \(record.etag)")
        print("version  \(record.versionID.hex)")
        print("keys     \(try await engine.encryptionDescription(of: record))")
        let iso = ISO8601DateFormatter()
        print("modified \(iso.string(from: record.modified))")
        print("scrubbed " + (status.scrubbed.map { times in
            "light \(times.light.map(iso.string(from:)) ?? "never"), deep \(times.deep.map(iso.string(from:)) ?? "never")"
        } ?? "never"))
        print("")
        let multipart = record.parts.count > 1
        print((multipart ? " part  " : "") + "shard  provider        location  operator                        health")
        for shard in status.shards {
            let location = shard.provider?.jurisdiction.code ?? "-"
            let operatorText = shard.provider.map { "\($0.operatorName) (\($0.operatorJurisdiction))" } ?? "-"
            print((multipart ? String(shard.part + 1).leftPadded(5) + "  " : "")
                  + "\(String(shard.index).leftPadded(5))  \((shard.providerName ?? "-").rightPadded(14))  \(location.rightPadded(8))  \(operatorText.rightPadded(30))  \(shard.health)"
                  + (shard.placementNote.map { "  [to drain: \($0)]" } ?? ""))
        }
        print("")
        for rule in status.verdict {
            print("\(rule.passed ? "pass" : "FAIL")  \(rule.name): \(rule.detail)")
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
    func rightPadded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
