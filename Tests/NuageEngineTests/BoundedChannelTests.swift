@testable import NuageEngine
import Testing

@Suite struct BoundedChannelTests {
    final class Payload: Sendable {}

    @Test func consumedElementsAreReleased() async throws {
        let channel = BoundedChannel<Payload>(capacity: 4)
        var payload: Payload? = Payload()
        weak let first = payload
        try await channel.send(payload!)
        try await channel.send(Payload())
        payload = nil
        var iterator = channel.makeAsyncIterator()
        _ = try await iterator.next()
        #expect(first == nil, "a consumed element must not stay referenced by the channel")
        #expect(try await iterator.next() != nil)
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
