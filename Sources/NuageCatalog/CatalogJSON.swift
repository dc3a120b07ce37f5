import Foundation
import NuageCore

/// How catalogs store their JSON columns (manifests, metadata, journal changes): sorted keys,
/// byte strings as base64, so equal values are equal text.
public enum CatalogJSON {
    public static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dataEncodingStrategy = .base64
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// - Throws: `integrity` for text that is not a `T`.
    public static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(text.utf8)) } catch {
            throw NuageError(.integrity, "catalog holds an unreadable \(type) record", cause: error)
        }
    }

    /// Milliseconds since 1970, as catalogs keep dates.
    public static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    public static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }
}
