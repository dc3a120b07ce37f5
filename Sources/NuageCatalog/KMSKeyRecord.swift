import Foundation
import NuageCore

/// A key of the gateway's key service (SSE-KMS), as the catalog keeps it: its material wrapped
/// under a master key, never in the clear. Names are never reused, so a destroyed key's record
/// stays (without its material) and says what became of the objects under it.
public struct KMSKeyRecord: Hashable, Sendable, Codable {
    /// AWS KMS's key states, as far as Nuage has them.
    public enum State: String, Codable, Sendable, CaseIterable {
        /// Wraps and unwraps data keys.
        case enabled = "Enabled"
        /// Refused for writes and reads until enabled again.
        case disabled = "Disabled"
        /// Refused like a disabled key; destroyed at ``KMSKeyRecord/deletionDate`` unless the
        /// destruction is cancelled (which leaves the key disabled, as AWS does).
        case pendingDeletion = "PendingDeletion"
        /// Its material is gone: every object under it is unreadable for good (crypto-shredded).
        case destroyed = "Destroyed"
    }

    /// What `nuage kms` and S3 clients call the key: 1 to 64 of `A-Za-z0-9/_-`.
    public var name: String
    /// The owner (account) whose buckets may use the key; keys made before owners existed are
    /// the default owner's.
    public var owner: String
    /// 16 random bytes naming the key in manifests and binding its wrapping.
    public var id: [UInt8]
    public var state: State
    /// The master key that wrapped ``wrappedKey``.
    public var masterKeyID: UInt32
    /// The key's 32 bytes wrapped under the master key; empty once destroyed.
    public var wrappedKey: [UInt8]
    public var created: Date
    /// When a pending destruction is due, or when the key was destroyed.
    public var deletionDate: Date?

    public init(name: String, owner: String = Owner.default, id: [UInt8], state: State, masterKeyID: UInt32, wrappedKey: [UInt8],
                created: Date, deletionDate: Date? = nil) {
        self.name = name
        self.owner = owner
        self.id = id
        self.state = state
        self.masterKeyID = masterKeyID
        self.wrappedKey = wrappedKey
        self.created = created
        self.deletionDate = deletionDate
    }

    private enum CodingKeys: String, CodingKey { case name, owner, id, state, masterKeyID, wrappedKey, created, deletionDate }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), owner: try c.decodeIfPresent(String.self, forKey: .owner) ?? Owner.default,
                  id: try c.decode([UInt8].self, forKey: .id), state: try c.decode(State.self, forKey: .state),
                  masterKeyID: try c.decode(UInt32.self, forKey: .masterKeyID), wrappedKey: try c.decode([UInt8].self, forKey: .wrappedKey),
                  created: try c.decode(Date.self, forKey: .created), deletionDate: try c.decodeIfPresent(Date.self, forKey: .deletionDate))
    }

    /// Whether `name` may name a key: 1 to 64 of `A-Za-z0-9/_-`, not starting with `alias/`,
    /// `aws/` or `arn:` (those are the forms S3 clients wrap a name in).
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { $0 == 0x2F || $0 == 0x5F || $0 == 0x2D || (0x30...0x39).contains($0)
                || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
            && !name.hasPrefix("alias/") && !name.hasPrefix("aws/") && !name.hasPrefix("/")
    }
}

/// A bucket's default encryption (PutBucketEncryption): what a write that names none gets.
public struct BucketEncryption: Hashable, Sendable, Codable {
    /// The KMS key's name for `aws:kms`; nil for `AES256` (the gateway's own keys).
    public var kmsKey: String?
    /// S3 Bucket Keys: accepted and echoed; Nuage wraps every data key under the KMS key itself.
    public var bucketKeyEnabled: Bool
    public init(kmsKey: String?, bucketKeyEnabled: Bool = false) {
        self.kmsKey = kmsKey
        self.bucketKeyEnabled = bucketKeyEnabled
    }
}
