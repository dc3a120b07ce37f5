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

    /// Every shard of a put writes and syncs at once: that many blocking calls must run
    /// together, not a core's worth at a time (each call below waits up to 3 s for all the others; Dispatch took 8 s to start that many threads).
    @Test func blockingCallsRunTogether() async throws {
        let running = Locked(0)
        let calls = 8
        let allMet = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<calls {
                group.addTask {
                    try await BlockingIO.run {
                        running.withLock { $0 += 1 }
                        let deadline = Date().addingTimeInterval(3)
                        while running.value < calls && Date() < deadline { usleep(1000) }
                        return running.value >= calls
                    }
                }
            }
            return try await group.reduce(true) { $0 && $1 }
        }
        #expect(allMet, "fewer than \(calls) blocking calls ran at once (the pool has \(BlockingIO.threads) threads)")
    }
}
