import Foundation
import NuageCore

/// Where `get` writes: standard output or a device written in place, or a regular file written
/// beside its destination and renamed into place only when the whole object has been read and
/// authenticated (a failed read leaves no partial file).
final class OutputFile {
    private let writer: FileWriter
    private let temporary: String?
    private let destination: String?

    init(path: String) throws {
        if path == "-" {
            writer = FileWriter(descriptor: 1, writeBehind: false)
            temporary = nil
            destination = nil
            return
        }
        // A device or pipe (/dev/null, a FIFO) is written in place: it cannot be replaced by rename.
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw NuageError(.invalidArgument, "cannot open \(path): \(String(cString: strerror(errno)))") }
            writer = FileWriter(descriptor: fd, writeBehind: false)
            temporary = nil
            destination = nil
            return
        }
        let temporary = "\(path).nuage-partial-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NuageError(.invalidArgument, "cannot create \(path): \(String(cString: strerror(errno)))") }
        writer = FileWriter(descriptor: fd)
        self.temporary = temporary
        destination = path
    }

    func write(_ data: Data) throws {
        do { try data.withUnsafeBytes { try writer.write($0) } } catch {
            throw NuageError(.invalidArgument, "writing the output failed: \(error)")
        }
    }

    func commit() throws {
        guard let temporary, let destination else {
            if writer.descriptor > 2 { close(writer.descriptor) }
            return
        }
        guard (try? writer.sync()) != nil, close(writer.descriptor) == 0, rename(temporary, destination) == 0 else {
            throw NuageError(.invalidArgument, "cannot finish \(destination): \(String(cString: strerror(errno)))")
        }
    }

    func discard() {
        guard let temporary else { return }
        close(writer.descriptor)
        unlink(temporary)
    }
}

/// Standard input copied to a private temporary file when its length is unknown.
enum Spool {
    static func capture(from descriptor: Int32, in directory: String) throws -> String {
        let path = "\(directory)/.spool-\(UInt64.random(in: 0...UInt64.max))"
        let out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw NuageError(.invalidArgument, "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        let writer = FileWriter(descriptor: out, writeBehind: false)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = read(descriptor, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                unlink(path)
                throw NuageError(.invalidArgument, "reading standard input failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return path }
            do { try buffer.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[..<n])) } } catch {
                unlink(path)
                throw NuageError(.invalidArgument, "spooling standard input failed: \(error)")
            }
        }
    }
}
