@testable import NuageEngine
import Testing

@Suite struct BoundedChannelTests {
    final class Payload: Sendable {}

    @Test func consumedElementsAreReleased() async throws {
        let channel = BoundedChannel<Payload>(capacity: 4)
        weak var first: Payload?
        let producer = Task {
            for i in 0..<100 {
                let payload = Payload()
                if i == 0 { first = payload }
                try await channel.send(payload)
            }
            channel.finish()
        }
        var count = 0
        for try await _ in channel { count += 1 }
        try await producer.value
        #expect(count == 100)
        #expect(first == nil, "a consumed element must not stay referenced by the channel")
    }

    @Test func senderWaitsWhileFull() async throws {
        let channel = BoundedChannel<Int>(capacity: 2)
        try await channel.send(1)
        try await channel.send(2)
        let third = Task { try await channel.send(3) }
        try await Task.sleep(for: .milliseconds(50))
        var iterator = channel.makeAsyncIterator()
        #expect(try await iterator.next() == 1)
        try await third.value
        channel.finish()
        #expect(try await iterator.next() == 2)
        #expect(try await iterator.next() == 3)
        #expect(try await iterator.next() == nil)
    }

    @Test func closingWakesBlockedSenders() async throws {
        let channel = BoundedChannel<Int>(capacity: 1)
        try await channel.send(1)
        let blocked = Task { try await channel.send(2) }
        try await Task.sleep(for: .milliseconds(20))
        channel.close()
        await #expect(throws: BoundedChannel<Int>.Closed.self) { try await blocked.value }
    }

    @Test func finishWithErrorReachesTheConsumerAfterBufferedElements() async throws {
        struct Boom: Error {}
        let channel = BoundedChannel<Int>(capacity: 4)
        try await channel.send(7)
        channel.finish(throwing: Boom())
        var iterator = channel.makeAsyncIterator()
        #expect(try await iterator.next() == 7)
        await #expect(throws: Boom.self) { _ = try await iterator.next() }
    }
}
