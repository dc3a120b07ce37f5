#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NuageCore

/// Where the bytes of a put come from. The engine reads exactly the declared size, segment by
/// segment, straight into its own buffers.
public protocol ObjectBody: Sendable {
    /// Reads up to `buffer.count` bytes into `buffer`; returns 0 only at the end of the body.
    /// A body that checks digests throws here, at the end, when they do not match: the put
    /// then stores nothing.
    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int

    /// Metadata known only at the end of the body (checksums sent in trailers), asked once
    /// the body has ended and stored with the object.
    var trailingMetadata: [String: String] { get }

    /// Whether the body checks an MD5 the sender declared: the engine then computes the MD5
    /// even when it is not the ETag, and calls ``verify(md5:)``.
    var checksMD5: Bool { get }

    /// Checks the body's MD5, which the engine computes as S3's ETag or because ``checksMD5``,
    /// against one the sender declared; called once, after the body has ended and before
    /// anything commits. Throwing stores nothing.
    func verify(md5: [UInt8]) throws
}

extension ObjectBody {
    public var trailingMetadata: [String: String] { [:] }
    public var checksMD5: Bool { false }
    public func verify(md5: [UInt8]) throws {}
}

/// A body read from an open file descriptor (a file, or standard input).
public final class FileDescriptorBody: ObjectBody {
    private let fd: Int32
    private let ownsDescriptor: Bool

    /// Opens `path` for reading.
    /// - Throws: `NuageError.invalidArgument` when it cannot be opened.
    public init(path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw NuageError(.invalidArgument, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        ownsDescriptor = true
    }

    /// Reads from a descriptor the caller keeps open (standard input).
    public init(descriptor: Int32) {
        fd = descriptor
        ownsDescriptor = false
    }

    deinit { if ownsDescriptor { close(fd) } }

    /// The size of the underlying file, or nil when it is not a regular file.
    public var regularFileSize: Int64? {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size) - Int64(lseek(fd, 0, SEEK_CUR))
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno != EINTR {
                throw NuageError(.invalidArgument, "reading the object body failed: \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// A body held in memory (tests, small objects).
public struct BytesBody: ObjectBody {
    private let block: ByteBlock
    private let offset = OffsetBox()

    public init(_ bytes: [UInt8]) { block = ByteBlock(bytes) }

    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        offset.advance(by: buffer.count, limit: block.count) { start, n in
            block.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[start..<(start + n)]))
            }
            return n
        }
    }
}

import Synchronization

/// A read position shared by value-type bodies.
final class OffsetBox: Sendable {
    private let value = Mutex(0)
    func advance(by wanted: Int, limit: Int, _ body: (Int, Int) -> Int) -> Int {
        value.withLock { offset in
            let n = min(wanted, limit - offset)
            guard n > 0 else { return 0 }
            let done = body(offset, n)
            offset += done
            return done
        }
    }
}
