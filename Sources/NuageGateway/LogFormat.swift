import Foundation
import Logging
import Synchronization

/// How `nuage serve` writes its log on stderr: `text`, one human line per event, or `json`,
/// one JSON object per line (`time`, `level`, `label`, `message`, then the metadata's keys).
public enum LogFormat: String, CaseIterable, Sendable {
    case text, json

    /// A handler writing this format to stderr (or to `write`, for tests).
    public func handler(label: String, level: Logger.Level = .info,
                        write: @escaping @Sendable (String) -> Void = LogFormat.standardError) -> any LogHandler {
        LineLogHandler(label: label, format: self, logLevel: level, write: write)
    }

    /// One line on stderr, written whole.
    public static let standardError: @Sendable (String) -> Void = { line in
        let bytes = Array((line + "\n").utf8)
        lock.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Foundation.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
        }
    }
    private static let lock = Mutex(())
}

/// A line per event in either format; metadata values are rendered with their description.
struct LineLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let write: @Sendable (String) -> Void

    init(label: String, format: LogFormat, logLevel: Logger.Level, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.format = format
        self.logLevel = logLevel
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let time = Self.timestamp()
        switch format {
        case .text:
            let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quotedIfNeeded("\($0.value)"))" }.joined(separator: " ")
            write("\(time) \(event.level) \(label): \(event.message)" + (fields.isEmpty ? "" : " " + fields))
        case .json:
            var object: [String: String] = ["time": time, "level": "\(event.level)", "label": label, "message": "\(event.message)"]
            for (key, value) in all where object[key] == nil { object[key] = "\(value)" }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(object) { write(String(decoding: data, as: UTF8.self)) }
        }
    }

    static func quotedIfNeeded(_ value: String) -> String {
        value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline })
            ? "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n") + "\"" : value
    }

    /// UTC, milliseconds: `2026-12-06T22:40:01.123Z`, formatted by hand (`String(format:)` costs
    /// microseconds per call, and a line is written per request).
    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec, parts = tm()
        gmtime_r(&seconds, &parts)
        var bytes = [UInt8]()
        bytes.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(48 + rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); bytes.append(45)
        digits(Int(parts.tm_mon) + 1, 2); bytes.append(45)
        digits(Int(parts.tm_mday), 2); bytes.append(84)
        digits(Int(parts.tm_hour), 2); bytes.append(58)
        digits(Int(parts.tm_min), 2); bytes.append(58)
        digits(Int(parts.tm_sec), 2); bytes.append(46)
        digits(Int(spec.tv_nsec / 1_000_000), 3); bytes.append(90)
        return String(decoding: bytes, as: UTF8.self)
    }
}
