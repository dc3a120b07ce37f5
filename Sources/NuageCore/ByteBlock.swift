/// A fixed-size, 64-byte aligned, reference-counted byte buffer with a stable address.
///
/// Object data moves through the pipeline in blocks: the codec and the sealing code write into
/// them through pointers, providers read from them, and tasks share them without copying.
/// A block is filled by whoever creates it (`withUnsafeMutableBytes`) and MUST NOT be mutated
/// once it has been handed to another task.
public final class ByteBlock: @unchecked Sendable {
    public let count: Int
    private let base: UnsafeMutableRawPointer

    /// A zero-filled block of `count` bytes.
    public init(count: Int) {
        precondition(count >= 0, "negative ByteBlock size")
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
    }

    /// A block whose bytes are unspecified until written; the creator MUST fill every byte
    /// it later reads (hot paths use this to skip zero-filling buffers they overwrite).
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative ByteBlock size")
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }

    /// A block holding a copy of `bytes`.
    public convenience init(_ bytes: some Collection<UInt8>) {
        self.init(count: bytes.count)
        withUnsafeMutableBytes { dst in _ = dst.initializeMemory(as: UInt8.self, from: bytes) }
    }

    deinit { base.deallocate() }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Gives write access; only while the block is still owned by one task.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: base, count: count))
    }

    /// The block's memory, valid for as long as the block is alive (keep it alive with
    /// `withExtendedLifetime` around any use), for code that must `await` while holding it.
    public var unsafeMutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: count) }

    /// The bytes at `range` (relative to the block) as an array.
    public subscript(range: Range<Int>) -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return Array(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// A copy of the whole block.
    public var bytes: [UInt8] { self[0..<count] }
}
