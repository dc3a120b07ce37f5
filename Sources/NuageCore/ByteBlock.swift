/// A fixed-size, 64-byte aligned, reference-counted byte buffer with a stable address.
///
/// Object data moves through the pipeline in blocks: the codec and the sealing code write into
/// them through pointers, providers read from them, and tasks share them without copying.
/// A block is filled by whoever creates it (`withUnsafeMutableBytes`) and MUST NOT be mutated
/// once it has been handed to another task.
public final class ByteBlock: @unchecked Sendable {
    public let count: Int
    private let base: UnsafeMutableRawPointer
    private let capacity: Int

    /// A zero-filled block of `count` bytes.
    public convenience init(count: Int) {
        self.init(uninitializedCount: count)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: count)
    }

    /// A block whose bytes are unspecified until written; the creator MUST fill every byte
    /// it later reads (hot paths use this to skip zero-filling buffers they overwrite).
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative ByteBlock size")
        self.count = count
        capacity = BlockPool.capacity(for: count)
        base = BlockPool.take(capacity: capacity)
            ?? UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    /// A block holding a copy of `bytes` (a memcpy when they are contiguous).
    public convenience init(_ bytes: some Collection<UInt8>) {
        self.init(uninitializedCount: bytes.count)
        let copied: Void? = bytes.withContiguousStorageIfAvailable { source in
            base.copyMemory(from: UnsafeRawPointer(source.baseAddress ?? UnsafePointer(bitPattern: 1)!), byteCount: source.count)
        }
        if copied == nil {
            withUnsafeMutableBytes { dst in _ = dst.initializeMemory(as: UInt8.self, from: bytes) }
        }
    }

    deinit {
        if !BlockPool.give(base, capacity: capacity) { base.deallocate() }
    }

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

import Synchronization

/// Storage of released blocks, kept for reuse by size so that the data path, which allocates
/// a few blocks of the same sizes for every segment, does not fault in fresh pages each time.
/// Only large blocks are kept, and at most ``limit`` bytes in all.
enum BlockPool {
    static let minimum = 64 << 10
    static let limit = 32 << 20

    private struct Shelves {
        /// Addresses (as integers, which cross the lock freely) of free storage by capacity.
        var free: [Int: [UInt]] = [:]
        var bytes = 0
    }
    private static let shelves = Mutex(Shelves())

    /// Sizes are rounded up to whole pages so that near sizes share a shelf.
    static func capacity(for count: Int) -> Int {
        count < minimum ? max(count, 1) : (count + 4095) & ~4095
    }

    static func take(capacity: Int) -> UnsafeMutableRawPointer? {
        guard capacity >= minimum else { return nil }
        let address: UInt? = shelves.withLock { s in
            guard let address = s.free[capacity]?.popLast() else { return nil }
            s.bytes -= capacity
            return address
        }
        return address.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
    }

    /// Keeps `pointer` for reuse; false when the pool is full (the caller frees it).
    static func give(_ pointer: UnsafeMutableRawPointer, capacity: Int) -> Bool {
        guard capacity >= minimum else { return false }
        let address = UInt(bitPattern: pointer)
        return shelves.withLock { s in
            guard s.bytes + capacity <= limit else { return false }
            s.free[capacity, default: []].append(address)
            s.bytes += capacity
            return true
        }
    }
}
