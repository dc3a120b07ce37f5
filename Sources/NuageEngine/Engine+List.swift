import NuageCatalog
import NuageCore

extension Engine {
    /// One page of a listing: objects and, with a delimiter, the common prefixes that roll up
    /// the keys between the prefix and the next delimiter.
    public struct Listing: Sendable {
        public var objects: [ObjectRecord]
        public var commonPrefixes: [String]
        /// More keys follow; continue after ``nextMarker``.
        public var isTruncated: Bool
        /// The last key or common prefix of this page.
        public var nextMarker: String?
    }

    /// Lists keys in UTF-8 byte order (S3's order).
    ///
    /// - Parameters:
    ///   - prefix: only keys starting with it.
    ///   - delimiter: when set, keys containing it after the prefix are rolled up into one
    ///     common prefix each (ending with the delimiter).
    ///   - after: start strictly after this key or common prefix (marker, start-after, or a
    ///     continuation token's decoded value).
    ///   - limit: most entries (objects plus common prefixes) in the page, 0–1000 in S3.
    /// - Throws: `noSuchBucket`.
    public func list(bucket: String, prefix: String = "", delimiter: String? = nil, after: String? = nil,
                     limit: Int = 1000) async throws -> Listing {
        var listing = Listing(objects: [], commonPrefixes: [], isTruncated: false, nextMarker: nil)
        guard limit > 0 else {
            _ = try await catalog.listObjects(bucket: bucket, prefix: prefix, after: after, limit: 0)
            return listing
        }
        let delimiter = delimiter.flatMap { $0.isEmpty ? nil : $0 }
        // A marker that is itself a common prefix skips every key under it.
        var cursor = after.map { marker in
            delimiter.flatMap { marker.hasSuffix($0) && marker.hasPrefix(prefix) ? Self.pastPrefix(marker) : nil } ?? marker
        }
        var count = 0
        while true {
            let want = limit - count + 1  // one more than fits tells whether the page is truncated
            let page = try await catalog.listObjects(bucket: bucket, prefix: prefix, after: cursor, limit: want)
            var rolledUp = false
            for record in page {
                if count == limit {
                    listing.isTruncated = true
                    return listing
                }
                count += 1
                if let delimiter, let common = Self.commonPrefix(of: record.key, prefix: prefix, delimiter: delimiter) {
                    listing.commonPrefixes.append(common)
                    listing.nextMarker = common
                    cursor = Self.pastPrefix(common)
                    rolledUp = true
                    break  // query again after every key under the common prefix
                }
                listing.objects.append(record)
                listing.nextMarker = record.key
                cursor = record.key
            }
            if !rolledUp { return listing }
        }
    }

    /// The common prefix `key` rolls up into, if the delimiter occurs after the prefix.
    public static func commonPrefix(of key: String, prefix: String, delimiter: String) -> String? {
        // UTF-8 is self-synchronising: a byte match of a valid delimiter is a character match.
        let bytes = Array(key.utf8), needle = Array(delimiter.utf8), start = prefix.utf8.count
        guard !needle.isEmpty, bytes.count >= start + needle.count else { return nil }
        for i in start...(bytes.count - needle.count) where bytes[i..<(i + needle.count)].elementsEqual(needle) {
            return String(decoding: bytes[..<(i + needle.count)], as: UTF8.self)
        }
        return nil
    }

    /// A cursor sorting after every key that starts with `common`: `common` followed by more
    /// bytes of U+10FFFF than a key can hold. Any valid UTF-8 continuation of `common` within
    /// 1024 bytes sorts before it.
    static func pastPrefix(_ common: String) -> String {
        common + String(repeating: "\u{10FFFF}", count: ObjectNames.maxKeyBytes / 4 + 1)
    }
}

extension Engine {
    /// One page of a version listing (ListObjectVersions).
    public struct VersionListing: Sendable {
        public var versions: [ObjectVersion]
        public var commonPrefixes: [String]
        public var isTruncated: Bool
        /// Where the next page starts: after this key (a common prefix, or a key and version).
        public var nextKeyMarker: String?
        public var nextVersionIDMarker: String?
    }

    /// Lists versions and delete markers by key (UTF-8 byte order), newest first within a key.
    ///
    /// - Parameters:
    ///   - keyMarker: start after this key (every version of it), or after the version
    ///     `versionMarker` of it.
    ///   - versionMarker: with `keyMarker`, the version to start after.
    ///   - limit: most entries (versions, delete markers and common prefixes), 0–1000 in S3.
    /// - Throws: `noSuchBucket`.
    public func listVersions(bucket: String, prefix: String = "", delimiter: String? = nil, keyMarker: String? = nil,
                             versionMarker: VersionSelector = .current, limit: Int = 1000) async throws -> VersionListing {
        var listing = VersionListing(versions: [], commonPrefixes: [], isTruncated: false)
        let delimiter = delimiter.flatMap { $0.isEmpty ? nil : $0 }
        var cursor: (key: String, versionID: [UInt8]?)?
        if let keyMarker {
            if let delimiter, keyMarker.hasSuffix(delimiter), keyMarker.hasPrefix(prefix) {
                cursor = (Self.pastPrefix(keyMarker), nil)
            } else {
                // An unknown version id starts after the whole key.
                let marked = versionMarker == .current ? nil : try await lookup(bucket: bucket, key: keyMarker, version: versionMarker)
                cursor = (keyMarker, marked?.versionID)
            }
        }
        guard limit > 0 else {
            _ = try await catalog.listVersions(bucket: bucket, prefix: prefix, after: cursor, limit: 0)
            return listing
        }
        var count = 0
        while true {
            let page = try await catalog.listVersions(bucket: bucket, prefix: prefix, after: cursor, limit: limit - count + 1)
            var rolledUp = false
            for entry in page {
                if count == limit {
                    listing.isTruncated = true
                    return listing
                }
                count += 1
                let key = entry.record.key
                if let delimiter, let common = Self.commonPrefix(of: key, prefix: prefix, delimiter: delimiter) {
                    listing.commonPrefixes.append(common)
                    (listing.nextKeyMarker, listing.nextVersionIDMarker) = (common, nil)
                    cursor = (Self.pastPrefix(common), nil)
                    rolledUp = true
                    break
                }
                listing.versions.append(entry)
                (listing.nextKeyMarker, listing.nextVersionIDMarker) = (key, entry.record.s3VersionID)
                cursor = (key, entry.record.versionID)
            }
            if !rolledUp { return listing }
        }
    }
}
