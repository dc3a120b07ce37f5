#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CNuageIO
import NuageCore

/// A provider that keeps blobs as files under a root directory.
///
/// Layout: `ROOT/<first two characters of the name>/<name>`, so that no directory grows past
/// a few thousand entries; writes go to `ROOT/.tmp/` first and are renamed into place after
/// `fsync`, then the directory is synced, so a blob is either absent or complete. Write-back
/// starts every few MiB while a blob is written (``FileWriter``), so the disk works alongside
/// the encoder and the closing `fsync` is short. Blob names
/// are checked (``BlobName``) before any path is built: none can leave the root.
public struct DirectoryProvider: Provider {
    public let name: String
    public let root: String

    /// - Parameters:
    ///   - name: the provider's configured name.
    ///   - root: its directory; created (with parents) if missing.
    /// - Throws: ``ProviderError`` `permissionDenied` when the directory cannot be created.
    public init(name: String, root: String) throws {
        self.name = name
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        try Self.makeDirectories(self.root + "/.tmp", provider: name)
        Self.removeStaleTemporaries(in: self.root + "/.tmp", olderThan: Double(Self.staleTemporaryAge))
    }

    /// Temporary files older than this are left by writes that crashed, and are removed when
    /// the provider is opened. No put runs this long.
    public static let staleTemporaryAge: Int = 24 * 3600

    /// Removes temporary files (of puts that crashed or were killed) not modified for `age`:
    /// a running put writes its file as its body arrives.
    public func removeAbandonedWrites(olderThan age: Duration) async throws -> Int {
        let directory = root + "/.tmp", seconds = age.inSeconds
        return try await BlockingIO.run { Self.removeStaleTemporaries(in: directory, olderThan: seconds) }
    }

    public func put<Body: AsyncSequence & Sendable>(_ blob: String, length: Int64, body: Body) async throws
        where Body.Element == ByteBlock {
        try BlobName.validate(blob, provider: name)
        guard length >= 0 else { throw ProviderError(.invalidArgument, provider: name, "negative length") }
        let temporary = "\(root)/.tmp/\(blob).\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw error(errno, "create \(temporary)") }
        var committed = false
        defer {
            if !committed {
                close(fd)
                unlink(temporary)
            }
        }
        let writer = FileWriter(descriptor: fd)
        let provider = name
        @Sendable func write(_ block: ByteBlock) throws {
            do { try block.withUnsafeBytes { try writer.write($0) } } catch let failed as SystemCallError {
                throw Self.error(failed.errno, "write \(blob)", provider: provider)
            }
        }
        // Each block is written once the next one arrives, and the last one with the sync: a
        // blob of one block (every shard of a small object) costs one trip to a blocking thread.
        var written: Int64 = 0, held: ByteBlock?
        for try await block in body {
            try Task.checkCancellation()
            guard written + Int64(block.count) <= length else {
                throw ProviderError(.invalidArgument, provider: name, "body of blob \(blob) is longer than its declared \(length) bytes")
            }
            if let previous = held { try await BlockingIO.run { try write(previous) } }
            held = block
            written += Int64(block.count)
        }
        guard written == length else {
            throw ProviderError(.invalidArgument, provider: name, "body of blob \(blob) ended after \(written) of \(length) bytes")
        }
        let directory = "\(root)/\(Self.shardDirectory(blob))"
        let final = "\(directory)/\(blob)"
        try await BlockingIO.run { [held] in
            if let held { try write(held) }
            do { try writer.sync() } catch let failed as SystemCallError {
                throw Self.error(failed.errno, "fsync \(temporary)", provider: provider)
            }
            try Self.makeDirectories(directory, provider: provider)
            guard rename(temporary, final) == 0 else { throw Self.error(errno, "rename to \(final)", provider: provider) }
            Self.syncDirectory(directory)
        }
        committed = true
        close(fd)
    }

    public func get(_ blob: String, range: Range<Int64>?) async throws -> ByteBlock {
        try BlobName.validate(blob, provider: name)
        let path = self.path(of: blob), provider = name
        return try await BlockingIO.run { try Self.read(path, blob: blob, range: range, provider: provider) }
    }

    public func cachedGet(_ blob: String, range: Range<Int64>) -> ByteBlock? {
        guard range.count <= Self.cachedReadLimit, (try? BlobName.validate(blob, provider: name)) != nil else { return nil }
        return Self.readCached(path(of: blob), range: range)
    }

    /// Reads at most this long are answered at hand (``cachedGet(_:range:)``); the engine asks
    /// for them before it calls `get`, which therefore does not try the caches again.
    static let cachedReadLimit = 128 << 10

    /// The bytes of `range`, if the file's lookup and every byte are in the kernel's caches;
    /// nil otherwise (and on any error: the blocking read then says what it is). Never waits
    /// for a disk, so it may run on a cooperative thread: a hot small read (a shard of a small
    /// object) then costs no trip to a blocking thread and back, which costs more than the read.
    static func readCached(_ path: String, range: Range<Int64>) -> ByteBlock? {
        guard range.lowerBound >= 0 else { return nil }
        let fd = nuage_open_cached(path)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, range.upperBound <= Int64(info.st_size) else { return nil }
        let block = ByteBlock(uninitializedCount: range.count)
        let complete = block.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = nuage_pread_nowait(fd, buffer.baseAddress! + done, buffer.count - done, off_t(range.lowerBound) + off_t(done))
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        return complete ? block : nil
    }

    private static func read(_ path: String, blob: String, range: Range<Int64>?, provider: String) throws -> ByteBlock {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw error(errno, "open blob \(blob)", provider: provider) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw error(errno, "stat blob \(blob)", provider: provider) }
        let size = Int64(info.st_size)
        let wanted = range ?? 0..<size
        guard wanted.lowerBound >= 0 else {
            throw ProviderError(.invalidArgument, provider: provider, "negative range start")
        }
        guard wanted.upperBound <= size else {
            throw ProviderError(.corrupt, provider: provider, "blob \(blob) has \(size) bytes, range \(wanted) asked")
        }
        let block = ByteBlock(uninitializedCount: Int(wanted.count))  // pread fills it, or we throw
        try block.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(wanted.lowerBound) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    if n == 0 { throw ProviderError(.corrupt, provider: provider, "blob \(blob) shrank while being read") }
                    throw error(errno, "read blob \(blob)", provider: provider)
                }
                done += n
            }
        }
        return block
    }

    public func head(_ blob: String) async throws -> BlobInfo {
        try BlobName.validate(blob, provider: name)
        var info = stat()
        guard stat(path(of: blob), &info) == 0 else { throw error(errno, "stat blob \(blob)") }
        return BlobInfo(name: blob, size: Int64(info.st_size))
    }

    public func delete(_ blob: String) async throws {
        try BlobName.validate(blob, provider: name)
        // Freeing a large file's blocks can take a while: not on a cooperative thread.
        let path = self.path(of: blob), provider = name
        try await BlockingIO.run {
            guard unlink(path) == 0 || errno == ENOENT else { throw Self.error(errno, "delete blob \(blob)", provider: provider) }
        }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [BlobInfo] {
        let root = self.root
        let provider = name
        return try await BlockingIO.run {
            var found: [BlobInfo] = []
            for directory in try Self.entries(of: root, provider: provider).sorted(by: Self.byteOrder)
            where !directory.hasPrefix(".") && (directory.hasPrefix(prefix) || prefix.hasPrefix(directory)) {
                // Every name in `directory` starts with it: skip directories wholly before `after`.
                if let after, Self.byteOrder(directory, String(after.prefix(directory.count))) { continue }
                let names = try Self.entries(of: "\(root)/\(directory)", provider: provider)
                    .filter { name in name.hasPrefix(prefix) && (after.map { Self.byteOrder($0, name) } ?? true) }
                    .sorted(by: Self.byteOrder)
                for blob in names {
                    var info = stat()
                    guard stat("\(root)/\(directory)/\(blob)", &info) == 0 else { continue }
                    found.append(BlobInfo(name: blob, size: Int64(info.st_size)))
                    if found.count == limit { return found }
                }
            }
            return found
        }
    }

    // MARK: - Paths and system calls

    private func path(of blob: String) -> String { "\(root)/\(Self.shardDirectory(blob))/\(blob)" }

    static func shardDirectory(_ blob: String) -> String { String(blob.prefix(2)) }

    static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    private func error(_ code: Int32, _ what: String) -> ProviderError { Self.error(code, what, provider: name) }

    static func error(_ code: Int32, _ what: String, provider: String) -> ProviderError {
        let reason = String(cString: strerror(code))
        switch code {
        case ENOENT: return ProviderError(.notFound, provider: provider, "\(what): \(reason)")
        case EACCES, EPERM, EROFS: return ProviderError(.permissionDenied, provider: provider, "\(what): \(reason)")
        default: return ProviderError(.unavailable, provider: provider, "\(what): \(reason)")
        }
    }

    static func makeDirectories(_ path: String, provider: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/\(part)"
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw error(errno, "create directory \(current)", provider: provider)
            }
        }
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    @discardableResult
    static func removeStaleTemporaries(in directory: String, olderThan seconds: Double) -> Int {
        guard let names = try? entries(of: directory, provider: "") else { return 0 }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let cutoff = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 - seconds
        var removed = 0
        for name in names {
            var info = stat()
            let path = "\(directory)/\(name)"
            guard stat(path, &info) == 0 else { continue }
            let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            if modified < cutoff, unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    static func entries(of path: String, provider: String) throws -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw error(errno, "list \(path)", provider: provider)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
