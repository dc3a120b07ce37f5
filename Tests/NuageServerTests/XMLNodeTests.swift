import Foundation
import NuageCore
import Testing

/// The XML reader every request body and provider listing goes through.
@Suite struct XMLNodeTests {
    func parse(_ text: String) -> XMLNode? { XMLNode.parse(Data(text.utf8)) }

    @Test func readsWhatS3Sends() throws {
        let root = try #require(parse("""
            \u{FEFF}<?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment -->
            <Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/" a='1'>
              <Object><Key>a&amp;b &lt;c&gt; &quot;&apos; &#x41;&#66; \u{2713}</Key></Object>
              <Object><Key><![CDATA[x<y&z]]></Key><VersionId/></Object>
              <Quiet>true</Quiet>
            </Delete>
            """))
        #expect(root.name == "Delete")
        #expect(root.all("Object").compactMap { $0.value("Key") } == ["a&b <c> \"' AB \u{2713}", "x<y&z"])
        #expect(root.value("Quiet") == "true")
        #expect(root.all("Object")[1].first("VersionId")?.text == "")
    }

    @Test func refusesWhatS3NeverSends() {
        let bad = [
            "", "<a>", "<a></b>", "<a/><b/>", "text<a/>", "<a/>text", "<a>&unknown;</a>", "<a>&#0;</a>", "<a>&#x1;</a>",
            "<a>\u{1}</a>", "<a>&amp</a>", "<!DOCTYPE a><a/>", "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            "<a b=c/>", "<a b='<'/>", "<1a/>", "<a><![CDATA[x</a>", "<a><!-- x</a>",
        ]
        for text in bad { #expect(parse(text) == nil, "\(text)") }
        // Names that are not UTF-8 made Foundation's XMLParser trap (found by fuzzing).
        let crash = Data([0x3C, 0x43, 0x9C, 0x75, 0xFF, 0x3E, 0x3C, 0x2F, 0x43, 0x9C, 0x75, 0xFF, 0x3E])
        #expect(XMLNode.parse(crash) == nil)
    }

    @Test func boundsDepthAndSize() {
        let deep = String(repeating: "<a>", count: XMLNode.maximumDepth) + String(repeating: "</a>", count: XMLNode.maximumDepth)
        #expect(parse(deep) != nil)
        #expect(parse("<r>" + deep + "</r>") == nil, "one level too deep")
        // 75,000 levels once overflowed the stack while the tree was freed.
        #expect(parse("<Delete>" + String(repeating: "<a>", count: 75_000) + String(repeating: "</a>", count: 75_000) + "</Delete>") == nil)
        let wide = "<r>" + String(repeating: "<a/>", count: XMLNode.maximumElements - 1) + "</r>"
        #expect(parse(wide)?.children.count == XMLNode.maximumElements - 1)
        #expect(parse("<r>" + String(repeating: "<a/>", count: XMLNode.maximumElements) + "</r>") == nil)
    }
}
