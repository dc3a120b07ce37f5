import Foundation

/// A bucket setting the gateway parses, checks and keeps in the bucket record as JSON (CORS
/// rules, lifecycle rules): stored once checked, read back on use.
protocol StoredBucketSetting: Codable {
    /// What it is, for errors ("CORS configuration").
    static var settingName: String { get }
}

extension StoredBucketSetting {
    /// The stored form, kept in the bucket record.
    var stored: String { String(decoding: try! JSONEncoder().encode(self), as: UTF8.self) }

    /// - Throws: `internalError` for a stored form this gateway cannot read (a damaged catalog).
    init(stored: String) throws {
        do { self = try JSONDecoder().decode(Self.self, from: Data(stored.utf8)) } catch {
            throw S3Error(.internalError, "The bucket's stored \(Self.settingName) cannot be read.")
        }
    }
}
