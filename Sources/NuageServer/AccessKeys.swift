import Foundation
import NuageCatalog
import NuageCore
import NuageEngine

/// Access key generation: ids like AWS's (20 upper-case characters), 40-character secrets.
public enum AccessKeys {
    /// Creates a key and stores it, its secret sealed under the master key.
    /// - Returns: the record and the secret, which is never stored in the clear.
    public static func create(engine: Engine, name: String, owner: String = Owner.default, readOnly: Bool,
                              buckets: [String]) async throws -> (AccessKeyRecord, String) {
        try Owner.validate(owner)
        for bucket in buckets { try ObjectNames.validateBucket(bucket) }
        let idAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let secretAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var generator = SystemRandomNumberGenerator()
        let id = "NU" + String((0..<18).map { _ in idAlphabet.randomElement(using: &generator)! })
        let secret = String((0..<40).map { _ in secretAlphabet.randomElement(using: &generator)! })
        let record = AccessKeyRecord(id: id, name: name, owner: owner, sealedSecret: try engine.masterKey.sealSecret(secret, accessKey: id),
                                     readOnly: readOnly, buckets: buckets, created: Date())
        try await engine.catalog.createAccessKey(record)
        try await engine.journalDurable()
        return (record, secret)
    }
}
