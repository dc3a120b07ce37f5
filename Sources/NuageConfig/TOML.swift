import Foundation
import NuageCore

/// A TOML value of the subset `nuage.toml` uses.
public enum TOMLValue: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case array([TOMLValue])
    case table([String: TOMLValue])
    case tableArray([[String: TOMLValue]])
}

/// A parser for the part of TOML that configuration files need: `[table]`, `[[array of
/// tables]]`, bare or quoted keys, basic and literal strings, integers, booleans and arrays
/// (which may span lines), and comments. Anything else is an error that names the line.
public enum TOML {
    /// `text` as a TOML basic string, quotes included.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case let c where c.value < 0x20 || c.value == 0x7F: out += String(format: "\\u%04X", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    public static func parse(_ text: String) throws -> [String: TOMLValue] {
        var root: [String: TOMLValue] = [:]
        var path: [String] = []
        var isArrayElement = false
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).enumerated().makeIterator()
        while let (index, raw) = lines.next() {
            var line = raw
            let number = index + 1
            func fail(_ message: String) -> NuageError { NuageError(.configuration, "TOML line \(number): \(message)") }
            var scanner = Scanner(stripComment(line))
            scanner.skipSpaces()
            if scanner.atEnd { continue }
            if scanner.peek == "[" {
                let double = scanner.text.hasPrefix("[[")
                let inner = scanner.text.trimmingSpaces.dropFirst(double ? 2 : 1).dropLast(double ? 2 : 1)
                guard scanner.text.trimmingSpaces.hasSuffix(double ? "]]" : "]") else { throw fail("unterminated table header") }
                path = try inner.split(separator: ".").map { part in
                    var s = Scanner(String(part))
                    return try s.key(fail)
                }
                guard !path.isEmpty else { throw fail("empty table name") }
                isArrayElement = double
                try open(&root, path: path, arrayElement: double, fail: fail)
                continue
            }
            let key = try scanner.key(fail)
            scanner.skipSpaces()
            guard scanner.take() == "=" else { throw fail("expected '=' after key '\(key)'") }
            // Arrays may span lines: read on until brackets balance.
            while !bracketsBalanced(scanner.rest) {
                guard let (_, next) = lines.next() else { throw fail("unterminated array") }
                line = next
                scanner = Scanner(scanner.rest + " " + stripComment(line))
            }
            let value = try scanner.value(fail)
            scanner.skipSpaces()
            guard scanner.atEnd else { throw fail("unexpected text after the value of '\(key)'") }
            try insert(&root, path: path, arrayElement: isArrayElement, key: key, value: value, fail: fail)
        }
        return root
    }

    private static func stripComment(_ line: String) -> String {
        var inBasic = false, inLiteral = false, escaped = false
        for (offset, c) in line.enumerated() {
            if escaped { escaped = false; continue }
            if inBasic && c == "\\" { escaped = true; continue }
            if c == "\"" && !inLiteral { inBasic.toggle() }
            if c == "'" && !inBasic { inLiteral.toggle() }
            if c == "#" && !inBasic && !inLiteral { return String(line.prefix(offset)) }
        }
        return line
    }

    private static func bracketsBalanced(_ text: String) -> Bool {
        var depth = 0, inBasic = false, inLiteral = false, escaped = false
        for c in text {
            if escaped { escaped = false; continue }
            if inBasic && c == "\\" { escaped = true; continue }
            if c == "\"" && !inLiteral { inBasic.toggle() }
            if c == "'" && !inBasic { inLiteral.toggle() }
            if !inBasic && !inLiteral { if c == "[" { depth += 1 } else if c == "]" { depth -= 1 } }
        }
        return depth <= 0
    }

    private static func open(_ table: inout [String: TOMLValue], path: [String], arrayElement: Bool,
                             fail: (String) -> NuageError) throws {
        let head = path[0]
        if path.count == 1 {
            if arrayElement {
                guard case .tableArray(var elements) = table[head] ?? .tableArray([]) else { throw fail("'\(head)' is not an array of tables") }
                elements.append([:])
                table[head] = .tableArray(elements)
            } else {
                guard table[head] == nil else { throw fail("table '\(head)' defined twice") }
                table[head] = .table([:])
            }
            return
        }
        try withChild(&table, head, fail: fail) { try open(&$0, path: Array(path.dropFirst()), arrayElement: arrayElement, fail: fail) }
    }

    private static func insert(_ table: inout [String: TOMLValue], path: [String], arrayElement: Bool, key: String,
                               value: TOMLValue, fail: (String) -> NuageError) throws {
        guard let head = path.first else {
            guard table[key] == nil else { throw fail("key '\(key)' defined twice") }
            table[key] = value
            return
        }
        try withChild(&table, head, fail: fail) {
            try insert(&$0, path: Array(path.dropFirst()), arrayElement: arrayElement, key: key, value: value, fail: fail)
        }
    }

    /// Edits the table at `name` (for an array of tables, its last element).
    private static func withChild(_ table: inout [String: TOMLValue], _ name: String, fail: (String) -> NuageError,
                                  _ body: (inout [String: TOMLValue]) throws -> Void) throws {
        switch table[name] {
        case .table(var child):
            try body(&child)
            table[name] = .table(child)
        case .tableArray(var elements) where !elements.isEmpty:
            try body(&elements[elements.count - 1])
            table[name] = .tableArray(elements)
        case nil:
            var child: [String: TOMLValue] = [:]
            try body(&child)
            table[name] = .table(child)
        default:
            throw fail("'\(name)' is not a table")
        }
    }

    /// Reads characters of one line.
    struct Scanner {
        var chars: [Character]
        var index = 0
        init(_ text: String) { chars = Array(text) }
        var text: String { String(chars[index...]) }
        var rest: String { String(chars[index...]) }
        var atEnd: Bool { index >= chars.count }
        var peek: Character? { atEnd ? nil : chars[index] }
        mutating func take() -> Character? {
            defer { index += 1 }
            return peek
        }
        mutating func skipSpaces() { while let c = peek, c == " " || c == "\t" || c == "\r" { index += 1 } }

        mutating func key(_ fail: (String) -> NuageError) throws -> String {
            skipSpaces()
            if peek == "\"" || peek == "'" {
                guard case .string(let key) = try value(fail) else { throw fail("bad quoted key") }
                return key
            }
            var key = ""
            while let c = peek, c.isLetter || c.isNumber || c == "_" || c == "-" { key.append(c); index += 1 }
            guard !key.isEmpty else { throw fail("expected a key") }
            skipSpaces()
            return key
        }

        mutating func value(_ fail: (String) -> NuageError) throws -> TOMLValue {
            skipSpaces()
            guard let first = peek else { throw fail("missing value") }
            switch first {
            case "\"":
                index += 1
                var out = ""
                while let c = take() {
                    if c == "\"" { return .string(out) }
                    if c == "\\" {
                        switch take() {
                        case "\"": out.append("\"")
                        case "\\": out.append("\\")
                        case "n": out.append("\n")
                        case "t": out.append("\t")
                        case "r": out.append("\r")
                        case "u":
                            let hex = String(chars[index..<min(index + 4, chars.count)])
                            index += 4
                            guard hex.count == 4, let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) else {
                                throw fail("bad \\u escape")
                            }
                            out.unicodeScalars.append(scalar)
                        default: throw fail("unsupported escape in string")
                        }
                    } else {
                        out.append(c)
                    }
                }
                throw fail("unterminated string")
            case "'":
                index += 1
                var out = ""
                while let c = take() {
                    if c == "'" { return .string(out) }
                    out.append(c)
                }
                throw fail("unterminated string")
            case "[":
                index += 1
                var items: [TOMLValue] = []
                while true {
                    skipSpaces()
                    if peek == "]" { index += 1; return .array(items) }
                    items.append(try value(fail))
                    skipSpaces()
                    if peek == "," { index += 1; continue }
                    skipSpaces()
                    guard take() == "]" else { throw fail("expected ',' or ']' in array") }
                    return .array(items)
                }
            default:
                var word = ""
                while let c = peek, !(c == "," || c == "]" || c == " " || c == "\t" || c == "\r") { word.append(c); index += 1 }
                if word == "true" { return .bool(true) }
                if word == "false" { return .bool(false) }
                if let number = Int(word.filter { $0 != "_" }) { return .integer(number) }
                throw fail("unsupported value '\(word)' (strings need quotes)")
            }
        }
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed())
    }
}
