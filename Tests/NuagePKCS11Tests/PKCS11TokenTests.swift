import Foundation
import NuageCore
import NuageCrypto
import NuagePKCS11
import Testing

/// The master key in a real PKCS#11 token (SoftHSM2): created non-extractable, adopted again,
/// wrapping data keys inside the token, with a bounded cache of unwrapped keys.
@Suite struct PKCS11TokenTests {
    private func code(_ error: any Error) -> NuageError.Code? { (error as? NuageError)?.code }

    @Test func urisAreParsedAsRFC7512SaysAndPINsInThemRefused() throws {
        let uri = try PKCS11URI("pkcs11:token=My%20Token;object=master%3Bkey;type=secret-key")
        #expect(uri.token == "My Token" && uri.object == "master;key")
        #expect(try PKCS11URI(uri.description) == uri, "what init writes reads back")
        for bad in ["pkcs11:token=t;object=o?pin-value=1234", "pkcs11:token=t;object=o;slot=1", "pkcs11:token=t",
                    "pkcs11:token=t;object=o;type=private", "token=t;object=o", "pkcs11:token=t;token=u;object=o",
                    "pkcs11:token=t;object=%zz"] {
            #expect(throws: NuageError.self, "\(bad)") { try PKCS11URI(bad) }
        }
        #expect { try PKCS11URI("pkcs11:token=t;object=o?pin-value=1234") } throws: {
            String(describing: $0).contains("pin-env or pin-file") && !String(describing: $0).contains("1234")
        }
    }

    @Test func theKeyIsCreatedNonExtractableAndAdoptedAfterwards() throws {
        let (token, created) = try SoftHSM.token(object: "created-\(UUID().uuidString)")
        #expect(created)
        #expect(try token.valueReadResult() == "CKR_ATTRIBUTE_SENSITIVE", "the key's value cannot be read out of the token")
        let (again, createdAgain) = try SoftHSM.token(object: token.uri.object, create: false)
        #expect(!createdAgain)
        let first = try MasterKey(token: token), second = try MasterKey(token: again)
        #expect(first.id == second.id, "sub-keys derive inside the token, the same every time")
        #expect(try first.sealSecret("s", accessKey: "a") != [], "derived sub-keys work")
        #expect(try second.openSecret(try first.sealSecret("secret", accessKey: "AK"), accessKey: "AK") == "secret")
        let other = try MasterKey(token: try SoftHSM.token(object: "other-\(UUID().uuidString)").token)
        #expect(other.id != first.id)
    }

    @Test func dataKeysAreWrappedByTheTokenAndBoundToTheirContext() throws {
        let master = try MasterKey(token: try SoftHSM.token(object: "wrap-\(UUID().uuidString)").token,
                                   cache: UnwrappedKeyCache(limits: .init(count: 0, lifetime: .zero)))
        let key = DataKey.random(), version = Array(repeating: UInt8(7), count: 16)
        let wrapped = try master.wrap(key, context: version)
        #expect(wrapped.count == 60)
        let segment: [UInt8] = Array("plaintext".utf8)
        let sealed = try segment.withUnsafeBytes { try key.seal(segment: $0, index: 0, isLast: true, versionID: version) }
        let unwrapped = try master.unwrap(wrapped, context: version)
        let opened = try (Array(sealed.ciphertext) + Array(sealed.tag)).withUnsafeBytes {
            try unwrapped.open(segment: $0, index: 0, isLast: true, versionID: version)
        }
        #expect(Array(opened) == segment)
        #expect { try master.unwrap(wrapped, context: Array(repeating: 8, count: 16)) } throws: { code($0) == .integrity }
        var tampered = wrapped
        tampered[20] ^= 1
        #expect { try master.unwrap(tampered, context: version) } throws: { code($0) == .integrity }
        let tagKey = ChunkTagKey.random()
        let wrappedTag = try master.wrap(tagKey, versionID: version)
        var tag = [UInt8](repeating: 0, count: 16)
        tag.withUnsafeMutableBytes { out in [UInt8]([1, 2, 3]).withUnsafeBytes { tagKey.tag(chunk: $0, shard: 0, segment: 0, into: out) } }
        let unwrappedTag = try master.unwrapTagKey(wrappedTag, versionID: version)
        #expect([UInt8]([1, 2, 3]).withUnsafeBytes { chunk in tag.withUnsafeBytes { unwrappedTag.verify(chunk: chunk, tag: $0, shard: 0, segment: 0) } })
        #expect(throws: NuageError.self, "a wrapped tag key never passes for a data key") { try master.unwrap(wrappedTag, context: version) }
    }

    @Test func unwrappedKeysAreCachedWithinTheirLimits() throws {
        let clock = ManualClock()
        let cache = UnwrappedKeyCache(limits: .init(count: 2, lifetime: .seconds(60)), now: { clock.now })
        let master = try MasterKey(token: try SoftHSM.token(object: "cache-\(UUID().uuidString)").token, cache: cache)
        let versions = (0..<3).map { Array(repeating: UInt8($0), count: 16) }
        let wrapped = try versions.map { try master.wrap(DataKey.random(), context: $0) }
        _ = try master.unwrap(wrapped[0], context: versions[0])
        _ = try master.unwrap(wrapped[0], context: versions[0])
        #expect(cache.counts == .init(hits: 1, misses: 1, evictions: 0))
        #expect(throws: NuageError.self, "a cached key still needs the context it was wrapped with") {
            try master.unwrap(wrapped[0], context: versions[1])
        }
        _ = try master.unwrap(wrapped[1], context: versions[1])
        _ = try master.unwrap(wrapped[2], context: versions[2])
        #expect(cache.counts.evictions == 1, "a third key pushes out the oldest")
        _ = try master.unwrap(wrapped[0], context: versions[0])
        #expect(cache.counts.hits == 1, "the evicted key came from the token again")
        clock.advance(by: .seconds(61))
        _ = try master.unwrap(wrapped[0], context: versions[0])
        #expect(cache.counts.hits == 1 && cache.counts.evictions >= 2, "an expired key is unwrapped again")
        _ = try master.unwrap(wrapped[0], context: versions[0])
        #expect(cache.counts.hits == 2, "and kept again")
        _ = try master.unwrap(wrapped[2], context: versions[2])
        // A new key sweeps out every expired one (k0 and k2 here), not only itself.
        clock.advance(by: .seconds(61))
        let before = cache.counts.evictions
        _ = try master.unwrap(wrapped[1], context: versions[1])
        #expect(cache.counts.evictions == before + 2, "both keys held when the time passed are gone")
        // A zero lifetime keeps nothing.
        let none = UnwrappedKeyCache(limits: .init(count: 10, lifetime: .zero), now: { clock.now })
        let uncached = try MasterKey(token: try SoftHSM.token(object: "cache-zero-\(UUID().uuidString)").token, cache: none)
        let once = try uncached.wrap(DataKey.random(), context: versions[0])
        _ = try uncached.unwrap(once, context: versions[0])
        _ = try uncached.unwrap(once, context: versions[0])
        #expect(none.counts == .init(hits: 0, misses: 2, evictions: 0))
    }

    @Test func aMissingKeyTokenAndModuleAreNamed() throws {
        // A wrong PIN is tested from another process (Tests/e2e/test_hsm.py): within this one the
        // token is already logged in, and PKCS#11 login is per process.
        #expect { try SoftHSM.token(object: "absent-\(UUID().uuidString)", create: false) } throws: {
            code($0) == .configuration && String(describing: $0).contains("no secret key labelled")
        }
        #expect {
            try PKCS11Token.open(module: SoftHSM.module, uri: PKCS11URI(token: "no-such-token", object: "k"), pin: SoftHSM.pin)
        } throws: { code($0) == .keyUnavailable && String(describing: $0).contains(SoftHSM.tokenLabel) }
        #expect { try PKCS11Token.open(module: "/nonexistent/libpkcs11.so", uri: PKCS11URI(token: "t", object: "k"), pin: "1") } throws: {
            code($0) == .configuration
        }
    }
}

/// A clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = ContinuousClock.now
    var now: ContinuousClock.Instant { lock.withLock { current } }
    func advance(by duration: Duration) { lock.withLock { current += duration } }
}
