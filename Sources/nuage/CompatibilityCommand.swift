import ArgumentParser
import NuageServer

struct Compatibility: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compatibility",
        abstract: "Print, as Markdown, which S3 headers and sub-resources the gateway honors, accepts as no-ops or refuses.",
        discussion: "docs/COMPATIBILITY.md is this output: nuage compatibility > docs/COMPATIBILITY.md")

    @Flag(help: "Every row as JSON (the end-to-end tests drive each one).") var json = false

    func run() { print(json ? S3Compatibility.json() : S3Compatibility.markdown(), terminator: "") }
}
