#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file front to back and makes it durable, starting the disk writes early.
///
/// Every ``writeBehind`` bytes it asks the kernel to begin writing back the range just written
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)` on Linux, which does not wait), so the disk works
/// while the writer computes the next bytes, dirty pages do not pile up, and the final
/// ``sync()`` finds little left to flush. Where the call does not exist it is plain
/// `write` + `fsync`. The descriptor is a new file, written from offset 0, by one thread at a time.
public final class FileWriter: @unchecked Sendable {
    /// The descriptor written; the caller opens and closes it.
    public let descriptor: Int32
    /// Bytes written so far.
    public private(set) var offset: Int64 = 0
    private var flushed: Int64 = 0
    private let writeBehind: Int64?

    /// How much is written before its write-back is started.
    public static let writeBehindBytes: Int64 = 8 << 20

    /// - Parameter writeBehind: start write-back every ``writeBehindBytes`` (regular files);
    ///   false for pipes and devices.
    public init(descriptor: Int32, writeBehind: Bool = true) {
        self.descriptor = descriptor
        self.writeBehind = writeBehind && Self.startWriteBack != nil ? Self.writeBehindBytes : nil
    }

    /// Writes all of `buffer`, retrying short writes and interrupted calls.
    /// - Throws: ``SystemCallError`` with the `errno` of the failed `write`.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            #if canImport(Glibc)
            let n = Glibc.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
            #else
            let n = Darwin.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
            #endif
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemCallError(call: "write", errno: n < 0 ? errno : EIO) }
            done += n
        }
        offset += Int64(buffer.count)
        if let writeBehind, let start = Self.startWriteBack, offset - flushed >= writeBehind {
            // Only a hint: a failure here shows again, and is reported, at sync().
            _ = start(descriptor, flushed, offset - flushed, Self.syncFileRangeWrite)
            flushed = offset
        }
    }

    /// `fsync`: everything written is on stable storage when it returns.
    /// - Throws: ``SystemCallError`` with the `errno` of `fsync`.
    public func sync() throws {
        guard fsync(descriptor) == 0 else { throw SystemCallError(call: "fsync", errno: errno) }
    }

    private static let syncFileRangeWrite: UInt32 = 2  // SYNC_FILE_RANGE_WRITE

    /// `sync_file_range(2)`, which Swift's Glibc module does not import, looked up by name.
    private static let startWriteBack: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? = {
        #if os(Linux)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
        #else
        return nil
        #endif
    }()
}

/// A failed system call and its `errno`.
public struct SystemCallError: Error, CustomStringConvertible {
    public let call: String
    public let errno: Int32
    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }
    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}
