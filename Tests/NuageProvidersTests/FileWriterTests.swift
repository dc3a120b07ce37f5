import Foundation
import NuageCore
@testable import NuageProviders
import Testing

@Suite struct FileWriterTests {
    /// Many write-behind windows, in pieces that straddle them: the file holds exactly the bytes.
    @Test func writesEveryByteAcrossWriteBehindWindows() throws {
        let path = NSTemporaryDirectory() + "nuage-filewriter-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(fd >= 0)
        let writer = FileWriter(descriptor: fd)
        var expected = [UInt8]()
        let piece = (0..<(3 << 20) + 7).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for round in 0..<9 {
            let slice = piece[..<(piece.count - round)]
            try slice.withUnsafeBytes { try writer.write($0) }
            expected += slice
        }
        try writer.sync()
        close(fd)
        #expect(writer.offset == Int64(expected.count))
        #expect(expected.count > 3 * Int(FileWriter.writeBehindBytes))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(expected))
    }

    @Test func failuresCarryTheirErrno() throws {
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        let writer = FileWriter(descriptor: fd)
        #expect {
            try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try writer.write($0) }
        } throws: { ($0 as? SystemCallError)?.errno == EBADF }
    }
}
