import Foundation

#if NUAGE_FUZZER
/// libFuzzer's driver, which `-sanitize=fuzzer` links in.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// The harness `NUAGE_FUZZ_TARGET` names.
let selected: @Sendable ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["NUAGE_FUZZ_TARGET"] ?? ""
    guard let harness = Harnesses.all[name] else {
        FileHandle.standardError.write(Data("NUAGE_FUZZ_TARGET must be one of \(Harnesses.all.keys.sorted().joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return harness
}()

/// One input, for libFuzzer.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// The executable's entry point (SwiftPM links `main` to it): libFuzzer's driver.
@_cdecl("nuage_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    _ = selected
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { data, size in testOneInput(data, size) }
}
#else
/// Without libFuzzer: `nuage-fuzz replay DIRECTORY` runs every file under `DIRECTORY/NAME/`
/// through harness NAME, and `nuage-fuzz list` names the harnesses.
@main struct Replay {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        switch (arguments.first, arguments.count) {
        case ("list", 1):
            print(Harnesses.all.keys.sorted().joined(separator: "\n"))
        case ("replay", 2):
            let root = arguments.last!
            var total = 0
            for name in Harnesses.all.keys.sorted() {
                let directory = "\(root)/\(name)"
                let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                for file in files.sorted() {
                    guard let data = FileManager.default.contents(atPath: "\(directory)/\(file)") else { continue }
                    Harnesses.all[name]!(Array(data))
                    total += 1
                }
                print("\(name): \(files.count) inputs")
            }
            print("replayed \(total) inputs, none trapped")
        default:
            FileHandle.standardError.write(Data("usage: nuage-fuzz list | nuage-fuzz replay CORPUS\n".utf8))
            exit(2)
        }
    }
}
#endif
