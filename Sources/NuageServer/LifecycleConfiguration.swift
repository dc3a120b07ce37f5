import Foundation
import NuageCatalog
import NuageCore

/// A bucket's lifecycle rules (PutBucketLifecycleConfiguration), as AWS documents them, for
/// what an unversioned bucket with one storage class can do: expire current objects (after
/// `Days` or on a `Date`) and abort incomplete multipart uploads. Transitions and noncurrent
/// versions are refused when the rules are put, never stored and ignored.
struct LifecycleConfiguration: StoredBucketSetting, Equatable, Sendable {
    static let settingName = "lifecycle configuration"
    struct Filter: Codable, Equatable, Sendable {
        var prefix = ""
        var tags: [Tag] = []
        var sizeGreaterThan: Int64?
        var sizeLessThan: Int64?
        /// How the client wrote it: `<Filter>` (with `<And>` when it combines), or the legacy `<Prefix>`.
        var style: Style = .filter

        enum Style: String, Codable, Sendable { case filter, and, legacyPrefix }
    }

    struct Tag: Codable, Equatable, Sendable {
        var key: String
        var value: String
    }

    struct Rule: Codable, Equatable, Sendable {
        var id: String
        var enabled: Bool
        var filter: Filter
        var expirationDays: Int?
        /// Midnight UTC.
        var expirationDate: Date?
        /// Removes a delete marker that is all that is left of its key (versioned buckets).
        var expiredObjectDeleteMarker: Bool?
        var abortAfterDays: Int?
        /// NoncurrentVersionExpiration: a version goes this many days after it stopped being current…
        var noncurrentDays: Int?
        /// …unless it is one of this many newer noncurrent versions kept.
        var newerNoncurrentVersions: Int?
    }

    /// Most noncurrent versions a rule can keep (NewerNoncurrentVersions), as at AWS.
    static let maximumNewerNoncurrentVersions = 100

    static let maximumRules = 1000
    var rules: [Rule]

    // MARK: Parsing

    /// - Throws: AWS's errors (`MalformedXML`, `InvalidArgument`, `InvalidRequest`), and
    ///   `NotImplemented` for transitions.
    init(xml root: XMLNode) throws {
        guard root.name == "LifecycleConfiguration", !root.children.isEmpty,
              root.children.allSatisfy({ $0.name == "Rule" }) else { throw S3Error(.malformedXML) }
        guard root.children.count <= Self.maximumRules else {
            throw S3Error(.invalidRequest, "The number of lifecycle rules should not exceed allowed limit of \(Self.maximumRules) rules")
        }
        rules = try root.children.map(Self.rule)
        var seen = Set<String>()
        for rule in rules where !seen.insert(rule.id).inserted {
            throw S3Error(.invalidArgument, "Rule ID must be unique. Found same ID for more than one rule")
        }
    }

    private static func rule(_ node: XMLNode) throws -> Rule {
        var id: String?, status: String?, filter: Filter?, days: Int?, date: Date?, marker: Bool?, abort: Int?, actions = 0
        var noncurrent: (days: Int, keep: Int?)?
        for child in node.children {
            let text = child.text.trimmingCharacters(in: .whitespacesAndNewlines)
            switch child.name {
            case "ID":
                guard id == nil else { throw S3Error(.malformedXML) }
                guard text.count <= 255 else { throw S3Error(.invalidArgument, "ID length should not exceed allowed limit of 255") }
                id = text
            case "Status":
                guard status == nil, ["Enabled", "Disabled"].contains(text) else { throw S3Error(.malformedXML) }
                status = text
            case "Filter":
                guard filter == nil else { throw S3Error(.malformedXML) }
                filter = try Self.filter(child)
            case "Prefix":
                guard filter == nil else { throw S3Error(.malformedXML) }
                filter = Filter(prefix: child.text, style: .legacyPrefix)
            case "Expiration":
                guard days == nil, date == nil, marker == nil else { throw S3Error(.malformedXML) }
                (days, date, marker) = try Self.expiration(child)
                actions += 1
            case "AbortIncompleteMultipartUpload":
                guard abort == nil, child.children.count == 1, let value = child.value("DaysAfterInitiation") else { throw S3Error(.malformedXML) }
                guard let number = Int(value), number > 0 else {
                    throw S3Error(.invalidArgument, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer")
                }
                abort = number
                actions += 1
            case "Transition", "NoncurrentVersionTransition":
                throw S3Error(.notImplemented, "\(child.name) is not implemented: Nuage has one storage class (STANDARD), so there is nothing to transition to; the rules were not stored.")
            case "NoncurrentVersionExpiration":
                guard noncurrent == nil, child.children.allSatisfy({ ["NoncurrentDays", "NewerNoncurrentVersions"].contains($0.name) }),
                      let text = child.value("NoncurrentDays") else { throw S3Error(.malformedXML) }
                guard let days = Int(text), days > 0 else {
                    throw S3Error(.invalidArgument, "'NoncurrentDays' in NoncurrentVersionExpiration action must be a positive integer")
                }
                let keep = try child.value("NewerNoncurrentVersions").map { text in
                    guard let count = Int(text), (1...Self.maximumNewerNoncurrentVersions).contains(count) else {
                        throw S3Error(.invalidArgument, "'NewerNoncurrentVersions' in NoncurrentVersionExpiration action must be a positive integer up to \(Self.maximumNewerNoncurrentVersions)")
                    }
                    return count
                }
                noncurrent = (days, keep)
                actions += 1
            default:
                throw S3Error(.malformedXML)
            }
        }
        guard let status, let filter else { throw S3Error(.malformedXML) }
        guard actions > 0 else { throw S3Error(.invalidRequest, "At least one action needs to be specified in a rule") }
        if abort != nil && (!filter.tags.isEmpty || filter.sizeGreaterThan != nil || filter.sizeLessThan != nil) {
            throw S3Error(.invalidRequest, "AbortIncompleteMultipartUpload cannot be specified with Tags or object size filters.")
        }
        if marker == true && !filter.tags.isEmpty {
            throw S3Error(.invalidArgument, "ExpiredObjectDeleteMarker cannot be specified with object tags")
        }
        return Rule(id: id ?? Self.generatedID(), enabled: status == "Enabled", filter: filter, expirationDays: days, expirationDate: date,
                    expiredObjectDeleteMarker: marker, abortAfterDays: abort, noncurrentDays: noncurrent?.days,
                    newerNoncurrentVersions: noncurrent?.keep)
    }

    /// AWS names a rule given without an ID.
    private static func generatedID() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return String((0..<48).map { _ in alphabet.randomElement()! })
    }

    private static func filter(_ node: XMLNode) throws -> Filter {
        guard node.children.count <= 1 else { throw S3Error(.malformedXML, "A Filter holds one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan or And.") }
        var filter = Filter()
        guard let only = node.children.first else { return filter }
        if only.name == "And" {
            filter.style = .and
            for child in only.children { try add(child, to: &filter, combining: true) }
        } else {
            try add(only, to: &filter, combining: false)
        }
        if let greater = filter.sizeGreaterThan, let less = filter.sizeLessThan, greater >= less {
            throw S3Error(.invalidArgument, "ObjectSizeGreaterThan must be less than ObjectSizeLessThan")
        }
        _ = try TagSet(checking: filter.tags.map { ($0.key, $0.value) }, maximum: TagSet.maximumBucketTags)
        return filter
    }

    private static func add(_ node: XMLNode, to filter: inout Filter, combining: Bool) throws {
        let text = node.text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch node.name {
        case "Prefix":
            filter.prefix = node.text
        case "Tag":
            guard let key = node.first("Key")?.text, node.children.count == 2, let value = node.first("Value")?.text else { throw S3Error(.malformedXML) }
            filter.tags.append(Tag(key: key, value: value))
        case "ObjectSizeGreaterThan":
            guard filter.sizeGreaterThan == nil, let size = Int64(text), size >= 0 else { throw S3Error(.invalidArgument, "ObjectSizeGreaterThan must be a non-negative integer") }
            filter.sizeGreaterThan = size
        case "ObjectSizeLessThan":
            guard filter.sizeLessThan == nil, let size = Int64(text), size > 0 else { throw S3Error(.invalidArgument, "ObjectSizeLessThan must be a positive integer") }
            filter.sizeLessThan = size
        default:
            throw S3Error(.malformedXML)
        }
    }

    private static func expiration(_ node: XMLNode) throws -> (Int?, Date?, Bool?) {
        guard node.children.count == 1, let only = node.children.first else {
            throw S3Error(.malformedXML, "Expiration holds one of Days, Date or ExpiredObjectDeleteMarker.")
        }
        let text = only.text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch only.name {
        case "Days":
            guard let days = Int(text), days > 0 else { throw S3Error(.invalidArgument, "'Days' for Expiration action must be a positive integer") }
            return (days, nil, nil)
        case "Date":
            guard let date = midnight(text) else { throw S3Error(.invalidArgument, "'Date' must be at midnight GMT") }
            return (nil, date, nil)
        case "ExpiredObjectDeleteMarker":
            guard ["true", "false"].contains(text) else { throw S3Error(.malformedXML) }
            return (nil, nil, text == "true")
        default:
            throw S3Error(.malformedXML)
        }
    }

    /// `2026-01-01`, `2026-01-01T00:00:00Z` or `2026-01-01T00:00:00.000Z`: midnight UTC only.
    static func midnight(_ text: String) -> Date? {
        let day = text.prefix(10), rest = text.dropFirst(10)
        guard ["", "T00:00:00Z", "T00:00:00.000Z", "T00:00:00+00:00", "T00:00:00.000+00:00"].contains(rest) else { return nil }
        let parts = day.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let date = Int(parts[2]),
              (1970...9999).contains(year), (1...12).contains(month), (1...31).contains(date) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "GMT")!
        guard let result = calendar.date(from: DateComponents(year: year, month: month, day: date)),
              calendar.component(.day, from: result) == date else { return nil }
        return result
    }

    // MARK: XML

    func xml() -> XMLWriter {
        var xml = XMLWriter()
        xml.open("LifecycleConfiguration", namespace: true)
        for rule in rules {
            xml.open("Rule")
            xml.element("ID", rule.id)
            Self.write(rule.filter, to: &xml)
            xml.element("Status", rule.enabled ? "Enabled" : "Disabled")
            if rule.expirationDays != nil || rule.expirationDate != nil || rule.expiredObjectDeleteMarker != nil {
                xml.open("Expiration")
                if let days = rule.expirationDays { xml.element("Days", String(days)) }
                if let date = rule.expirationDate { xml.element("Date", S3Server.iso8601(date)) }
                if let marker = rule.expiredObjectDeleteMarker { xml.element("ExpiredObjectDeleteMarker", marker ? "true" : "false") }
                xml.close("Expiration")
            }
            if let days = rule.noncurrentDays {
                xml.open("NoncurrentVersionExpiration")
                xml.element("NoncurrentDays", String(days))
                if let keep = rule.newerNoncurrentVersions { xml.element("NewerNoncurrentVersions", String(keep)) }
                xml.close("NoncurrentVersionExpiration")
            }
            if let days = rule.abortAfterDays {
                xml.open("AbortIncompleteMultipartUpload")
                xml.element("DaysAfterInitiation", String(days))
                xml.close("AbortIncompleteMultipartUpload")
            }
            xml.close("Rule")
        }
        xml.close("LifecycleConfiguration")
        return xml
    }

    private static func write(_ filter: Filter, to xml: inout XMLWriter) {
        if filter.style == .legacyPrefix {
            xml.element("Prefix", filter.prefix)
            return
        }
        xml.open("Filter")
        if filter.style == .and { xml.open("And") }
        if filter.style == .and || !filter.prefix.isEmpty { xml.element("Prefix", filter.prefix) }
        for tag in filter.tags {
            xml.open("Tag")
            xml.element("Key", tag.key)
            xml.element("Value", tag.value)
            xml.close("Tag")
        }
        if let size = filter.sizeGreaterThan { xml.element("ObjectSizeGreaterThan", String(size)) }
        if let size = filter.sizeLessThan { xml.element("ObjectSizeLessThan", String(size)) }
        if filter.style == .and { xml.close("And") }
        xml.close("Filter")
    }

    // MARK: What rules do

    /// Whether a rule's filter selects an object.
    static func selects(_ filter: Filter, _ object: ObjectRecord) -> Bool {
        guard object.key.hasPrefix(filter.prefix) else { return false }
        if let greater = filter.sizeGreaterThan, object.size <= greater { return false }
        if let less = filter.sizeLessThan, object.size >= less { return false }
        guard !filter.tags.isEmpty else { return true }
        let tags = TagSet.of(object.metadata).tags
        return filter.tags.allSatisfy { wanted in tags.contains { $0.key == wanted.key && $0.value == wanted.value } }
    }

    /// When an object expires and by which rule (the earliest of the enabled rules that select
    /// it), or nil. `Days` count from its last modification, rounded up to the next midnight
    /// UTC as at AWS; `day` is the length of a day (shortened only by the test setting).
    func expiry(of object: ObjectRecord, day: Double) -> (date: Date, rule: String)? {
        var earliest: (date: Date, rule: String)?
        for rule in rules where rule.enabled && Self.selects(rule.filter, object) {
            let date: Date
            if let days = rule.expirationDays {
                date = Self.roundedUp(object.modified.addingTimeInterval(Double(days) * day), day: day)
            } else if let fixed = rule.expirationDate {
                date = fixed
            } else {
                continue
            }
            if earliest.map({ date < $0.date }) ?? true { earliest = (date, rule.id) }
        }
        return earliest
    }

    /// Which versions of one key (newest first, delete markers included) the enabled rules remove
    /// at `now`, each with its rule: noncurrent versions `NoncurrentDays` after the next newer one
    /// was written (rounded up to midnight UTC), beyond the `NewerNoncurrentVersions` kept; and a
    /// delete marker that is all that is left of its key (`ExpiredObjectDeleteMarker`).
    func removals(of versions: [ObjectRecord], now: Date, day: Double) -> [(version: ObjectRecord, rule: String)] {
        guard let newest = versions.first else { return [] }
        if versions.count == 1, newest.deleteMarker,
           let rule = rules.first(where: { $0.enabled && $0.expiredObjectDeleteMarker == true && newest.key.hasPrefix($0.filter.prefix) }) {
            return [(newest, rule.id)]
        }
        var removed: [(version: ObjectRecord, rule: String)] = []
        for index in versions.indices.dropFirst() where !versions[index].deleteMarker {
            let version = versions[index], since = versions[index - 1].modified
            let newerNoncurrent = versions[1..<index].filter { !$0.deleteMarker }.count
            let rule = rules.first { rule in
                guard rule.enabled, let days = rule.noncurrentDays, Self.selects(rule.filter, version) else { return false }
                guard newerNoncurrent >= (rule.newerNoncurrentVersions ?? 0) else { return false }
                return Self.roundedUp(since.addingTimeInterval(Double(days) * day), day: day) <= now
            }
            if let rule { removed.append((version, rule.id)) }
        }
        return removed
    }

    /// Whether any enabled rule acts on noncurrent versions or delete markers.
    var actsOnVersions: Bool { rules.contains { $0.enabled && ($0.noncurrentDays != nil || $0.expiredObjectDeleteMarker == true) } }

    /// When an upload started on `created` for `key` is aborted, and by which rule, or nil.
    func abortDate(key: String, created: Date, day: Double) -> (date: Date, rule: String)? {
        var earliest: (date: Date, rule: String)?
        for rule in rules where rule.enabled && key.hasPrefix(rule.filter.prefix) {
            guard let days = rule.abortAfterDays else { continue }
            let date = Self.roundedUp(created.addingTimeInterval(Double(days) * day), day: day)
            if earliest.map({ date < $0.date }) ?? true { earliest = (date, rule.id) }
        }
        return earliest
    }

    static func roundedUp(_ date: Date, day: Double) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / day).rounded(.up) * day)
    }

    /// `x-amz-expiration`: `expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="…"`.
    static func header(_ expiry: (date: Date, rule: String)) -> String {
        "expiry-date=\"\(S3Server.httpDate(expiry.date))\", rule-id=\"\(expiry.rule)\""
    }
}
