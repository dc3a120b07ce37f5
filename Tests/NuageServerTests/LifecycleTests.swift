import Foundation
import HTTPTypes
import NuageCatalog
import NuageCore
import NuageEngine
@testable import NuageServer
import Testing

/// Lifecycle expiry on an injected clock: rules are put through the S3 API now, and expiry runs
/// as `nuage serve` runs it, at chosen later times.
@Suite struct LifecycleTests {
    static let rules = """
        <LifecycleConfiguration>\
        <Rule><ID>logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>\
        <Rule><ID>uploads</ID><Prefix>up/</Prefix><Status>Enabled</Status>\
        <AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
        </LifecycleConfiguration>
        """

    @Test func expiresWhenDueAndKeepsWhatChangedMeanwhile() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.cleanUp() }
        let start = Date()
        try await fixture.run { c in
            try await c.send(.put, "/bkt")
            try await c.send(.put, "/bkt", query: [("lifecycle", "")], body: Array(Self.rules.utf8))
            for key in ["logs/a", "logs/b", "keep"] { try await c.send(.put, "/bkt/\(key)", body: Array(key.utf8)) }
            try await c.send(.post, "/bkt/up/partial", query: [("uploads", "")])
        }
        func expire(after days: Double) async throws -> S3Server.LifecycleReport {
            var options = S3Server.Options()
            options.now = { start.addingTimeInterval(days * 86_400) }
            return try await S3Server(engine: fixture.engine, options: options).expireByLifecycle()
        }
        // Days count to the next midnight UTC after a day has passed: nothing is due at once or half a day later.
        #expect(try await expire(after: 0).expired.isEmpty)
        #expect(try await expire(after: 0.5).expired.isEmpty)
        // A stale version is never deleted: logs/b changed after expiry judged it.
        let judged = try #require(try await fixture.engine.catalog.object(bucket: "bkt", key: "logs/b"))
        let failed = try await fixture.engine.delete(bucket: "bkt", keys: ["logs/b"], ifVersions: ["logs/b": judged.versionID + [0]])
        #expect(failed.isEmpty)
        #expect(try await fixture.engine.catalog.object(bucket: "bkt", key: "logs/b") != nil)

        let due = try await expire(after: 2.01)
        #expect(due.expired.map(\.key).sorted() == ["logs/a", "logs/b"] && due.expired.allSatisfy { $0.rule == "logs" })
        #expect(due.aborted.isEmpty, "the upload's rule gives it two days, rounded up to midnight")
        #expect(try await fixture.engine.catalog.object(bucket: "bkt", key: "logs/a") == nil)
        #expect(try await fixture.engine.catalog.object(bucket: "bkt", key: "keep") != nil)
        let later = try await expire(after: 3.01)
        #expect(later.expired.isEmpty && later.aborted.map(\.key) == ["up/partial"] && later.aborted[0].rule == "uploads")
        #expect(try await fixture.engine.listUploads(bucket: "bkt").isEmpty)
    }

    @Test func noncurrentVersionsAndLoneDeleteMarkersGoWhenDue() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.cleanUp() }
        let rules = """
            <LifecycleConfiguration><Rule><ID>old</ID><Filter><Prefix>k</Prefix></Filter><Status>Enabled</Status>\
            <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>\
            </Rule><Rule><ID>markers</ID><Filter><Prefix>gone</Prefix></Filter><Status>Enabled</Status>\
            <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>\
            <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule></LifecycleConfiguration>
            """
        let start = Date()
        try await fixture.run { c in
            try await c.send(.put, "/bkt")
            try await c.send(.put, "/bkt", query: [("versioning", "")],
                             body: Array("<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>".utf8))
            try await c.send(.put, "/bkt", query: [("lifecycle", "")], body: Array(rules.utf8))
            for body in ["1", "2", "3"] { try await c.send(.put, "/bkt/k", body: Array(body.utf8)) }
            try await c.send(.put, "/bkt/gone", body: [1])
            try await c.send(.delete, "/bkt/gone")
        }
        func expire(after days: Double) async throws -> S3Server.LifecycleReport {
            var options = S3Server.Options()
            options.now = { start.addingTimeInterval(days * 86_400) }
            return try await S3Server(engine: fixture.engine, options: options).expireByLifecycle()
        }
        let catalog = fixture.engine.catalog
        #expect(try await expire(after: 0.5).removedVersions.isEmpty, "nothing has been noncurrent for a day")
        let due = try await expire(after: 2.01)
        // k keeps its current version and one noncurrent one (NewerNoncurrentVersions); the oldest goes, as does gone's only version.
        #expect(due.removedVersions.map { "\($0.key) \($0.rule)" }.sorted() == ["gone markers", "k old"])
        #expect(try await catalog.versions(bucket: "bkt", key: "k").map(\.size) == [1, 1])
        #expect(try await catalog.versions(bucket: "bkt", key: "gone").map(\.deleteMarker) == [true])
        // The marker is all that is left of gone: the next run removes it.
        let next = try await expire(after: 2.02)
        #expect(next.removedVersions.map(\.key) == ["gone"] && next.removedVersions[0].version != "null")
        #expect(try await catalog.versions(bucket: "bkt", key: "gone").isEmpty)
        #expect(try await catalog.object(bucket: "bkt", key: "k") != nil)
    }

    @Test func expiryDatesRoundUpToMidnight() throws {
        let rules = try LifecycleConfiguration(xml: try #require(NuageCore.XMLNode.parse(Data(Self.rules.utf8))))
        var object = ObjectRecord(bucket: "b", key: "logs/x", versionID: [1], size: 1, etag: "e", modified: Date(timeIntervalSince1970: 1_800_000_123),
                                  metadata: [:], parts: [])
        let expiry = try #require(rules.expiry(of: object, day: 86_400))
        #expect(expiry.rule == "logs" && expiry.date == Date(timeIntervalSince1970: 1_800_000_123 + 86_400).roundedUpToDay)
        #expect(LifecycleConfiguration.header(expiry).hasSuffix(" 00:00:00 GMT\", rule-id=\"logs\""))
        object.key = "other"
        #expect(rules.expiry(of: object, day: 86_400) == nil)
        #expect(LifecycleConfiguration.midnight("2030-01-01T00:00:00.000Z") == Date(timeIntervalSince1970: 1_893_456_000))
        #expect(LifecycleConfiguration.midnight("2030-01-01T00:00:01Z") == nil && LifecycleConfiguration.midnight("2030-02-30") == nil)
    }
}

private extension Date {
    var roundedUpToDay: Date { Date(timeIntervalSince1970: (timeIntervalSince1970 / 86_400).rounded(.up) * 86_400) }
}
