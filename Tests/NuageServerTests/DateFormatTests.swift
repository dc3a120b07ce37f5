import Foundation
@testable import NuageServer
import Testing

/// Last-Modified and the XML dates are formatted by hand; Foundation's formatters are the reference.
@Suite struct DateFormatTests {
    @Test func handFormattedDatesMatchFoundations() {
        let http = DateFormatter()
        http.locale = Locale(identifier: "en_US_POSIX")
        http.timeZone = TimeZone(identifier: "GMT")
        http.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        // Whole milliseconds, as the catalog keeps times; from 1970 to 2200, and the edges.
        let fixed: [Int64] = [0, 999, 1000, 86_399_999, 951_782_400_000, 4_102_444_799_999, 7_258_118_400_000]
        for milliseconds in fixed + (0..<5_000).map({ _ in Int64.random(in: 0..<7_258_118_400_000, using: &generator) }) {
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            #expect(S3Server.httpDate(date) == http.string(from: date), "\(milliseconds)")
            #expect(S3Server.iso8601(date) == iso.string(from: date), "\(milliseconds)")
        }
        #expect(S3Server.httpDate(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
    }
}
