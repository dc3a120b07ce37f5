import Foundation
@testable import NuageServer
import Testing

@Suite struct BucketPolicyTests {
    /// Found by fuzzing: a `*` in a key consumed the pattern's `*`, so a Deny on `bucket/a*b?c*`
    /// missed the key `ax*b?c*…` and the request went on as the key's scope allowed.
    @Test func aStarInTheKeyDoesNotEscapeADeny() throws {
        #expect(BucketPolicy.wildcard("a*b?c*", matches: "ax*b?c*\u{FFFD}"))
        #expect(BucketPolicy.wildcard("*.log", matches: "x*.log") && !BucketPolicy.wildcard("*.log", matches: "x.logs"))
        let policy = try BucketPolicy(json: """
            {"Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/a*b?c*"}}
            """, bucket: "b")
        let request = BucketPolicy.Request(accessKey: "NUABCDEFGHIJKLMNOPQR", action: "s3:GetObject", resource: "arn:aws:s3:::b/ax*b?c*z", context: [:])
        #expect(policy.evaluate(request) == .denied)
    }

    @Test func absentKeysFailPositiveAndPassNegatedConditions() throws {
        let policy = try BucketPolicy(json: """
            {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
              "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}},
             {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
              "Condition": {"StringEquals": {"s3:ExistingObjectTag/class": "public"}}}]}
            """, bucket: "b")
        func decide(_ action: String, _ context: [String: String]) -> BucketPolicy.Decision {
            policy.evaluate(.init(accessKey: nil, action: action, resource: "arn:aws:s3:::b/k", context: context))
        }
        #expect(decide("s3:PutObject", [:]) == .denied)
        #expect(decide("s3:PutObject", ["s3:x-amz-server-side-encryption": "AES256"]) == .notApplicable)
        #expect(decide("s3:GetObject", [:]) == .notApplicable)
        #expect(decide("s3:GetObject", ["s3:existingobjecttag/class": "public"]) == .allowed)
        #expect(policy.isPublic)
    }
}
