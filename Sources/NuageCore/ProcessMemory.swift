#if canImport(Glibc)
import Glibc
#endif

/// How the process's allocator treats the megabyte-sized buffers of the data path.
public enum ProcessMemory {
    /// Largest allocation served from the allocator's heaps; larger ones get their own mapping.
    public static let mappingThreshold: Int32 = 32 << 20
    /// Free memory an allocator heap keeps before it returns any to the kernel.
    public static let trimThreshold: Int32 = 64 << 20

    /// Keeps freed buffers for reuse instead of returning them to the kernel.
    ///
    /// Every segment passes through a few buffers of about a megabyte that the sealing library
    /// allocates and frees (`Data`). glibc's defaults serve such sizes from fresh mappings or
    /// trim its heaps as soon as they shrink, so each segment faulted in new, zero-filled pages:
    /// 230–270 thousand page faults, 0.6–0.7 s of system time, for a 1 GiB `nuage get` to
    /// `/dev/null`, against about 10 thousand and 0.2 s with these settings (and on a virtual
    /// machine that hands freed memory back to its host, new pages cost ten times more). The
    /// memory kept is what the pipeline's own bounds already allow: a few segments per stream.
    /// Call once, at start-up, before other threads allocate; a no-op where glibc is absent.
    public static func keepFreedBuffers() {
        guard let mallopt else { return }
        _ = mallopt(mmapThresholdParameter, mappingThreshold)
        _ = mallopt(trimThresholdParameter, trimThreshold)
    }

    // <malloc.h>'s M_TRIM_THRESHOLD and M_MMAP_THRESHOLD, part of glibc's ABI.
    private static let trimThresholdParameter: Int32 = -1
    private static let mmapThresholdParameter: Int32 = -3

    /// glibc's `mallopt(3)`, which Swift's Glibc module does not import, looked up by name.
    private static let mallopt: (@convention(c) (Int32, Int32) -> Int32)? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        #else
        return nil
        #endif
    }()
}
