import Foundation
import NuageCatalog
import NuageCore

/// A bucket's Object Lock configuration (PutObjectLockConfiguration): Object Lock is on (a
/// bucket has it from its creation), with an optional default retention that new versions get
/// when their write names none.
struct ObjectLockConfiguration: StoredBucketSetting, Equatable {
    static let settingName = "Object Lock configuration"
    /// Most days and years of a default retention, as AWS takes them.
    static let maximumDays = 36_500, maximumYears = 100

    var mode: ObjectLock.Mode?
    var days: Int?
    var years: Int?

    init(mode: ObjectLock.Mode? = nil, days: Int? = nil, years: Int? = nil) {
        self.mode = mode
        self.days = days
        self.years = years
    }

    /// `<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>[<Rule><DefaultRetention>
    /// <Mode>…</Mode><Days>…</Days>|<Years>…</Years></DefaultRetention></Rule>]</ObjectLockConfiguration>`.
    init(xml root: XMLNode) throws {
        for child in root.children where !["ObjectLockEnabled", "Rule"].contains(child.name) { throw S3Error(.malformedXML) }
        guard root.value("ObjectLockEnabled") == "Enabled" else { throw S3Error(.malformedXML) }
        guard let rule = root.first("Rule") else {
            self.init()
            return
        }
        guard rule.children.count == 1, let retention = rule.first("DefaultRetention") else { throw S3Error(.malformedXML) }
        for child in retention.children where !["Mode", "Days", "Years"].contains(child.name) { throw S3Error(.malformedXML) }
        guard let text = retention.value("Mode"), let mode = ObjectLock.Mode(rawValue: text) else { throw S3Error(.malformedXML) }
        let days = retention.value("Days"), years = retention.value("Years")
        guard (days == nil) != (years == nil) else { throw S3Error(.malformedXML) }
        func period(_ text: String, limit: Int) throws -> Int {
            guard let value = Int(text), value > 0 else { throw S3Error(.invalidArgument, "Default retention period must be a positive integer value.") }
            guard value <= limit else { throw S3Error(.invalidArgument, "Default retention period is too large.") }
            return value
        }
        self.init(mode: mode, days: try days.map { try period($0, limit: Self.maximumDays) },
                  years: try years.map { try period($0, limit: Self.maximumYears) })
    }

    func xml() -> XMLWriter {
        var xml = XMLWriter()
        xml.open("ObjectLockConfiguration", namespace: true)
        xml.element("ObjectLockEnabled", "Enabled")
        if let mode {
            xml.open("Rule")
            xml.open("DefaultRetention")
            xml.element("Mode", mode.rawValue)
            if let days { xml.element("Days", String(days)) }
            if let years { xml.element("Years", String(years)) }
            xml.close("DefaultRetention")
            xml.close("Rule")
        }
        xml.close("ObjectLockConfiguration")
        return xml
    }

    /// The retention a version written at `now` gets by default, if any.
    func defaultRetention(from now: Date) -> (mode: ObjectLock.Mode, until: Date)? {
        guard let mode else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let until = calendar.date(byAdding: years.map { DateComponents(year: $0) } ?? DateComponents(day: days ?? 0), to: now) ?? .distantFuture
        return (mode, until)
    }
}
