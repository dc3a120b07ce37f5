import Foundation
import NuageCore
@testable import NuageSigV4
import Testing

/// AWS's published SigV4 test suite (credentials AKIDEXAMPLE, service "service") and the S3
/// streaming examples of the AWS documentation.
@Suite struct SigV4Tests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let scope = SigV4.Scope(date: "20150830", region: "us-east-1", service: "service")
    static let base: [(name: String, value: String)] = [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]

    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let method: String
        let path: String
        let query: [(name: String, value: String)]
        let headers: [(name: String, value: String)]
        let payload: String
        let canonicalHash: String
        let signature: String
        var testDescription: String { name }
    }

    static let vectors: [Vector] = [
        Vector(name: "get-vanilla", method: "GET", path: "/", query: [], headers: base, payload: "",
               canonicalHash: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
               signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Vector(name: "get-vanilla-query-order-key-case", method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")],
               headers: base, payload: "",
               canonicalHash: "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
               signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Vector(name: "get-vanilla-query-order-key", method: "GET", path: "/", query: [("Param1", "value2"), ("Param1", "Value1")],
               headers: base, payload: "", canonicalHash: "",
               signature: "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
        Vector(name: "get-header-value-trim", method: "GET", path: "/", query: [],
               headers: base + [("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")], payload: "",
               canonicalHash: "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
               signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
        Vector(name: "get-header-key-duplicate", method: "GET", path: "/", query: [],
               headers: base + [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")], payload: "",
               canonicalHash: "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
               signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
        Vector(name: "get-space", method: "GET", path: "/example space/", query: [], headers: base, payload: "",
               canonicalHash: "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
               signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
        Vector(name: "get-vanilla-utf8-query", method: "GET", path: "/", query: [("ሴ", "bar")], headers: base, payload: "",
               canonicalHash: "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
               signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        Vector(name: "get-unreserved", method: "GET", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
               query: [], headers: base, payload: "",
               canonicalHash: "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
               signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        Vector(name: "post-x-www-form-urlencoded", method: "POST", path: "/", query: [],
               headers: base + [("Content-Type", "application/x-www-form-urlencoded")], payload: "Param1=value1",
               canonicalHash: "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
               signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
        Vector(name: "post-vanilla-query", method: "POST", path: "/", query: [("Param1", "value1")], headers: base, payload: "",
               canonicalHash: "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
               signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ]

    func input(_ v: Vector) -> SigV4.CanonicalInput {
        SigV4.CanonicalInput(method: v.method, path: v.path, query: v.query, headers: v.headers,
                             signedHeaders: Array(Set(v.headers.map { $0.name.lowercased() })).sorted(),
                             payloadHash: SigV4.sha256Hex(Array(v.payload.utf8)))
    }

    /// The trimming of header values and Authorization components trims what Foundation's
    /// `trimmingCharacters(in: .whitespaces)` trims, and nothing else.
    @Test func trimmingMatchesFoundationsWhitespace() {
        let alphabet: [Character] = [" ", "\t", "a", "=", "\u{00A0}", "\u{2003}", "\u{3000}", "\n", "\r", "é", "\u{200B}", "\u{FEFF}"]
        var generator = SystemRandomNumberGenerator()
        var cases = ["", " ", "\t \t", "a", " a ", "\u{00A0}x\u{3000}", "\n a \n", "a b", "\u{200B}a\u{200B}"]
        for _ in 0..<2000 {
            cases.append(String((0..<Int.random(in: 0...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        }
        for text in cases {
            #expect(String(SigV4.trimmingWhitespace(text)) == text.trimmingCharacters(in: .whitespaces), "\(Array(text.unicodeScalars))")
            #expect(String(SigV4.trimmingWhitespace(Substring(text))) == text.trimmingCharacters(in: .whitespaces))
        }
    }

    @Test func signingKeyMatchesTheSuite() {
        let key = SigV4.signingKey(secret: Self.secret, scope: Self.scope)
        #expect(key.withUnsafeBytes { Array($0) }.hex == "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75")
    }

    @Test(arguments: vectors)
    func suiteVector(_ v: Vector) {
        let canonical = SigV4.canonicalRequest(input(v))
        if !v.canonicalHash.isEmpty { #expect(SigV4.sha256Hex(Array(canonical.utf8)) == v.canonicalHash, "\(canonical)") }
        let key = SigV4.signingKey(secret: Self.secret, scope: Self.scope)
        let signature = SigV4.signature(key: key, SigV4.stringToSign(timestamp: "20150830T123600Z", scope: Self.scope, canonicalRequest: canonical))
        #expect(signature == v.signature)
    }

    @Test func verificationAcceptsTheRightSignatureAndRefusesOthers() throws {
        let v = Self.vectors[1]
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=\(v.signature)"
        let auth = try SigV4Authorization.parse(header: header, timestamp: "20150830T123600Z")
        #expect(auth.accessKey == "AKIDEXAMPLE" && auth.scope == Self.scope && auth.signedHeaders == ["host", "x-amz-date"])
        let now = SigV4Time.parse("20150830T124000Z")!
        _ = try auth.verify(input(v), secret: Self.secret, now: now)
        #expect(throws: SigV4Error.signatureMismatch) { try auth.verify(input(v), secret: "wrong", now: now) }
        var tampered = input(v)
        tampered.query[0].value = "value3"
        #expect(throws: SigV4Error.signatureMismatch) { try auth.verify(tampered, secret: Self.secret, now: now) }
        #expect(throws: SigV4Error.skewed) { try auth.verify(input(v), secret: Self.secret, now: now.addingTimeInterval(16 * 60)) }
    }

    @Test(arguments: [
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=zz",
        "AWS4-HMAC-SHA256 Credential=AK/2015083/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=\(String(repeating: "a", count: 64))",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=\(String(repeating: "a", count: 64))",
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request, SignedHeaders=x-amz-date, Signature=\(String(repeating: "a", count: 64))",
        "AWS AKIA:signature",
        "",
    ])
    func malformedHeadersAreRefused(_ header: String) {
        #expect(throws: SigV4Error.self) { try SigV4Authorization.parse(header: header, timestamp: "20150830T123600Z") }
    }

    @Test func presignedQueryLimits() throws {
        func query(expires: String) -> [(name: String, value: String)] {
            [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "AK/20150830/us-east-1/s3/aws4_request"),
             ("X-Amz-Date", "20150830T123600Z"), ("X-Amz-Expires", expires), ("X-Amz-SignedHeaders", "host"),
             ("X-Amz-Signature", String(repeating: "b", count: 64))]
        }
        #expect(try SigV4Authorization.parse(query: query(expires: "3600")).expires == 3600)
        #expect(throws: SigV4Error.self) { try SigV4Authorization.parse(query: query(expires: "604801")) }
        #expect(throws: SigV4Error.self) { try SigV4Authorization.parse(query: query(expires: "-1")) }
    }

    /// The GET Object example of the S3 SigV4 documentation, signed by the client-side signer.
    @Test func signerReproducesTheDocumentedGetObjectSignature() throws {
        let signer = SigV4Signer(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: Self.s3Secret)
        let added = signer.sign(method: "GET", path: "/test.txt",
                                headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
                                payloadHash: SigV4.emptyPayloadHash, date: SigV4Time.parse("20130524T000000Z")!)
        let authorization = try #require(added.first { $0.name == "authorization" }?.value)
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(added.first { $0.name == "x-amz-date" }?.value == "20130524T000000Z")
        #expect(SigV4Signer.target(path: "/b/a b+c", query: [("uploadId", "x/y"), ("partNumber", "1")]) == "/b/a%20b%2Bc?uploadId=x%2Fy&partNumber=1")
    }

    @Test func uriEncodingAndDecoding() {
        #expect(SigV4.uriEncode("a b/c+d~é", encodeSlash: false) == "a%20b/c%2Bd~%C3%A9")
        #expect(SigV4.uriEncode("a/b", encodeSlash: true) == "a%2Fb")
        #expect(SigV4.percentDecode("a%20b%2Fc") == "a b/c")
        #expect(SigV4.percentDecode("bad%2") == nil)
        #expect(SigV4.percentDecode("%FF%FE") == nil, "invalid UTF-8 is refused")
        #expect(SigV4.parseQuery("list-type=2&prefix=a%2Fb&uploads")!.map { "\($0.name)=\($0.value)" } == ["list-type=2", "prefix=a/b", "uploads="])
    }

    // MARK: - Streaming bodies (AWS documentation examples)

    static let s3Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let s3Scope = SigV4.Scope(date: "20130524", region: "us-east-1", service: "s3")

    func context(seed: String) -> SigV4SigningContext {
        SigV4SigningContext(key: SigV4.signingKey(secret: Self.s3Secret, scope: Self.s3Scope), timestamp: "20130524T000000Z",
                            scope: Self.s3Scope, seedSignature: seed)
    }

    @Test func signedChunkedBodyDecodesAndVerifies() throws {
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        let ctx = context(seed: seed)
        let first = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        #expect(ctx.chunkSignature(previous: seed, chunkHash: SigV4.sha256Hex([UInt8](repeating: 97, count: 65536))) == first)
        let wire = Array("10000;chunk-signature=\(first)\r\n".utf8) + [UInt8](repeating: 97, count: 65536) + Array("\r\n".utf8)
            + Array("400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n".utf8)
            + [UInt8](repeating: 97, count: 1024) + Array("\r\n".utf8)
            + Array("0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n".utf8)
        #expect(wire.count == 66824)
        // Fed in odd-sized pieces, as the network delivers them.
        for pieceSize in [1, 7, 1000, 70_000] {
            var decoder = AWSChunkedDecoder(mode: .signed(ctx, trailer: false))
            var output: [UInt8] = []
            var offset = 0
            while offset < wire.count {
                let end = min(offset + pieceSize, wire.count)
                try wire[offset..<end].withUnsafeBytes { try decoder.decode($0, into: &output) }
                offset = end
            }
            try decoder.finish()
            #expect(output == [UInt8](repeating: 97, count: 66560), "piece size \(pieceSize)")
        }
        // One altered data byte: the chunk signature fails.
        var bad = wire
        bad[200] = 98
        var decoder = AWSChunkedDecoder(mode: .signed(ctx, trailer: false))
        var output: [UInt8] = []
        #expect(throws: SigV4Error.self) { try bad.withUnsafeBytes { try decoder.decode($0, into: &output) } }
        // A body cut short is incomplete.
        var short = AWSChunkedDecoder(mode: .signed(ctx, trailer: false))
        try wire[..<5000].withUnsafeBytes { try short.decode($0, into: &output) }
        #expect(throws: SigV4Error.self) { try short.finish() }
    }

    @Test func signedTrailerVerifies() throws {
        let ctx = context(seed: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e")
        let wire = Array("10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n".utf8)
            + [UInt8](repeating: 97, count: 65536) + Array("\r\n".utf8)
            + Array("400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n".utf8)
            + [UInt8](repeating: 97, count: 1024) + Array("\r\n".utf8)
            + Array("0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n".utf8)
            + Array("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n".utf8)
        var decoder = AWSChunkedDecoder(mode: .signed(ctx, trailer: true))
        var output: [UInt8] = []
        try wire.withUnsafeBytes { try decoder.decode($0, into: &output) }
        try decoder.finish()
        #expect(output.count == 66560)
        #expect(decoder.trailers["x-amz-checksum-crc32c"] == "sOO8/Q==")
        var forged = AWSChunkedDecoder(mode: .signed(ctx, trailer: true))
        let altered = Array(String(decoding: wire, as: UTF8.self).replacingOccurrences(of: "sOO8/Q==", with: "AAAAAA==").utf8)
        #expect(throws: SigV4Error.self) { try altered.withUnsafeBytes { try forged.decode($0, into: &output) }; try forged.finish() }
    }

    @Test func unsignedTrailerBody() throws {
        let wire = Array("4\r\nabcd\r\n2\r\nef\r\n0\r\nx-amz-checksum-crc32:S0Ugdw==\r\n\r\n".utf8)
        var decoder = AWSChunkedDecoder(mode: .unsigned)
        var output: [UInt8] = []
        try wire.withUnsafeBytes { try decoder.decode($0, into: &output) }
        try decoder.finish()
        #expect(String(decoding: output, as: UTF8.self) == "abcdef")
        #expect(decoder.trailers["x-amz-checksum-crc32"] == "S0Ugdw==")
        for bad in ["zz\r\nabcd\r\n", "4\r\nabcdE\r\n", "4\r\nab"] {
            var d = AWSChunkedDecoder(mode: .unsigned)
            #expect(throws: SigV4Error.self) {
                try Array(bad.utf8).withUnsafeBytes { try d.decode($0, into: &output) }
                try d.finish()
            }
        }
    }
}
