import Foundation

/// The form of a browser-based upload (POST Object, `multipart/form-data`): its fields, read up
/// to the `file` field, which must come last, as AWS requires. Fields other than the file may
/// take at most 20 KiB, as at AWS.
struct PostForm: Sendable {
    static let maximumFields = 20 * 1024

    /// Field names lowercased (S3 matches them so), values as sent, in order.
    var fields: [(name: String, value: String)]
    /// The file's name as the browser gave it (`${filename}` in the key).
    var fileName: String

    func value(_ name: String) -> String? { fields.first { $0.name == name }?.value }

    /// The boundary of a `multipart/form-data` content type, or nil for another type.
    static func boundary(contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() where part.lowercased().hasPrefix("boundary=") {
            var value = String(part.dropFirst("boundary=".count))
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            guard (1...70).contains(value.utf8.count) else { return nil }
            return value
        }
        return nil
    }

    /// Parses the start of a body up to the file's content.
    /// - Returns: the form and the offset in `bytes` where the file's content starts; nil when
    ///   `bytes` ends before the file's headers do (read more, up to `maximumFields`).
    /// - Throws: `MalformedPOSTRequest` for anything that is not such a form.
    static func parse(_ bytes: [UInt8], boundary: String) throws -> (form: PostForm, fileStart: Int)? {
        let delimiter = Array("--\(boundary)".utf8), separator = Array("\r\n--\(boundary)".utf8)
        guard bytes.count >= delimiter.count + 2 else { return nil }
        guard bytes.starts(with: delimiter + [13, 10]) else { throw malformed("The body does not start with the form's boundary.") }
        var fields: [(name: String, value: String)] = []
        var position = delimiter.count + 2
        while true {
            guard let headersEnd = find([13, 10, 13, 10], in: bytes, from: position) else { return nil }
            let (name, fileName) = try disposition(Array(bytes[position..<headersEnd]))
            let contentStart = headersEnd + 4
            if name == "file" { return (PostForm(fields: fields, fileName: fileName ?? ""), contentStart) }
            guard let valueEnd = find(separator, in: bytes, from: contentStart) else { return nil }
            guard let value = String(bytes: bytes[contentStart..<valueEnd], encoding: .utf8) else { throw malformed("A form field is not UTF-8.") }
            fields.append((name, value))
            position = valueEnd + separator.count
            // Another part follows (\r\n), or the form ends (--) before its file.
            guard position + 2 <= bytes.count else { return nil }
            guard bytes[position] == 13, bytes[position + 1] == 10 else {
                throw malformed("The form has no file, or the file is not its last field.")
            }
            position += 2
        }
    }

    /// The part's field name and file name, from its headers.
    private static func disposition(_ headers: [UInt8]) throws -> (name: String, fileName: String?) {
        guard let text = String(bytes: headers, encoding: .utf8) else { throw malformed("A part's headers are not UTF-8.") }
        for line in text.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
            let params = line.dropFirst("content-disposition:".count).split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard params.first?.lowercased() == "form-data" else { throw malformed("A part is not form-data.") }
            var name: String?, fileName: String?
            for param in params.dropFirst() {
                let pieces = param.split(separator: "=", maxSplits: 1).map(String.init)
                guard pieces.count == 2 else { continue }
                var value = pieces[1]
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                switch pieces[0].lowercased() {
                case "name": name = value.lowercased()
                case "filename": fileName = value
                default: break
                }
            }
            guard let name, !name.isEmpty else { throw malformed("A part has no field name.") }
            return (name, fileName)
        }
        throw malformed("A part has no Content-Disposition.")
    }

    static func malformed(_ message: String) -> S3Error { S3Error(.malformedPOSTRequest, message) }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard start >= 0, start <= haystack.count else { return nil }
        return haystack[start...].withUnsafeBytes { find(needle, in: $0) }.map { start + $0 }
    }

    /// Where `needle` first starts in `haystack` (memchr for its first byte, then memcmp).
    static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, let base = haystack.baseAddress else { return nil }
        return needle.withUnsafeBytes { pattern -> Int? in
            var offset = 0
            while offset + pattern.count <= haystack.count {
                guard let hit = memchr(base + offset, Int32(needle[0]), haystack.count - pattern.count - offset + 1) else { return nil }
                let at = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(hit, pattern.baseAddress!, pattern.count) == 0 { return at }
                offset = at + 1
            }
            return nil
        }
    }
}
