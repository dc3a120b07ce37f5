import Foundation
import HTTPTypes
import HummingbirdTesting
import NuageSigV4
import Testing

/// Authentication and authorisation, in process.
@Suite struct AuthHandlerTests {
    @Test func signaturesAreCheckedStrictly() async throws {
        try await withServer { c in
            #expect(try await c.send(.put, "/bkt").status == .ok)
            let anonymous = try await c.send(.get, "/bkt", anonymous: true)
            #expect(anonymous.status == .forbidden && anonymous.errorCode == "AccessDenied")
            let wrongSecret = SigV4Signer(accessKey: c.signer.accessKey, secretKey: "not-the-secret")
            #expect(try await c.send(.get, "/bkt", signer: wrongSecret).errorCode == "SignatureDoesNotMatch")
            let unknown = SigV4Signer(accessKey: "NUNOSUCHKEY", secretKey: "x")
            #expect(try await c.send(.get, "/bkt", signer: unknown).errorCode == "InvalidAccessKeyId")
            let skewed = try await c.send(.get, "/bkt", date: Date().addingTimeInterval(-16 * 60))
            #expect(skewed.status == .forbidden && skewed.errorCode == "RequestTimeTooSkewed")
            #expect(try await c.send(.get, "/bkt", date: Date().addingTimeInterval(-14 * 60)).status == .ok)
            #expect(try await c.send(.put, "/bkt/k", body: [1], payloadHash: "not-a-hash").errorCode == "InvalidArgument")
            // A signed request whose path was changed afterwards.
            var fields = HTTPFields()
            for (name, value) in c.signer.sign(method: "GET", path: "/bkt", headers: [("host", "localhost")], payloadHash: SigV4.emptyPayloadHash) {
                fields.append(HTTPField(name: HTTPField.Name(name)!, value: value))
            }
            let moved = try await c.client.execute(uri: "/bkt/other", method: .get, headers: fields, body: nil)
            #expect(moved.errorCode == "SignatureDoesNotMatch")
        }
    }

    @Test func keysLimitedToReadsOrBuckets() async throws {
        let f = try await ServerFixture()
        defer { f.cleanUp() }
        let reader = try await ServerFixture.createKey(f.engine, readOnly: true, buckets: [])
        let scoped = try await ServerFixture.createKey(f.engine, readOnly: false, buckets: ["mine"])
        try await f.run { c in
            try await c.send(.put, "/mine")
            try await c.send(.put, "/theirs")
            try await c.send(.put, "/theirs/k", body: [7])
            #expect(try await c.send(.get, "/theirs/k", signer: reader).bytes == [7])
            for denied in [try await c.send(.put, "/theirs/k", body: [8], signer: reader),
                           try await c.send(.delete, "/theirs/k", signer: reader),
                           try await c.send(.post, "/theirs/k", query: [("uploads", "")], signer: reader)] {
                #expect(denied.status == .forbidden && denied.errorCode == "AccessDenied")
            }
            #expect(try await c.send(.put, "/mine/k", body: [1], signer: scoped).status == .ok)
            #expect(try await c.send(.get, "/theirs/k", signer: scoped).errorCode == "AccessDenied")
            #expect(try await c.send(.put, "/mine/copy", headers: [("x-amz-copy-source", "theirs/k")], signer: scoped).errorCode == "AccessDenied")
            #expect(try await c.send(.put, "/newbucket", signer: scoped).errorCode == "AccessDenied")
            #expect(try await c.send(.get, "/theirs/k").bytes == [7], "nothing changed")
        }
    }
}
