import CNuageErasure
import NuageCore

/// A Galois-field multiply-accumulate implementation. All kernels produce identical bytes;
/// they differ only in speed and in the CPU features they need.
public enum Kernel: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Portable table-driven reference.
    case scalar
    /// 32-byte split-nibble table shuffles.
    case avx2
    /// 64-byte split-nibble table shuffles (AVX-512BW).
    case avx512
    /// AVX-512 with GFNI affine transforms.
    case gfni

    var cValue: Int32 {
        switch self {
        case .scalar: Int32(NUAGE_KERNEL_SCALAR)
        case .avx2: Int32(NUAGE_KERNEL_AVX2)
        case .avx512: Int32(NUAGE_KERNEL_AVX512)
        case .gfni: Int32(NUAGE_KERNEL_GFNI)
        }
    }

    /// Whether this CPU (and OS) can run the kernel.
    public var isAvailable: Bool { nuage_kernel_available(cValue) != 0 }

    /// The kernels this machine can run, slowest first.
    public static var available: [Kernel] { allCases.filter(\.isAvailable) }

    /// The fastest kernel this machine can run.
    public static var fastest: Kernel { available.last ?? .scalar }

    /// The kernel chosen at run time: `NUAGE_KERNEL` from the environment when set, else the fastest.
    /// - Throws: `NuageError.configuration` when `NUAGE_KERNEL` names an unknown or unavailable kernel.
    public static func selected(environment: [String: String]) throws -> Kernel {
        guard let name = environment["NUAGE_KERNEL"], !name.isEmpty else { return fastest }
        return try named(name)
    }

    /// The kernel called `name`, if this machine can run it.
    /// - Throws: `NuageError.configuration` when `name` is unknown or the CPU lacks its features.
    public static func named(_ name: String) throws -> Kernel {
        guard let kernel = Kernel(rawValue: name.lowercased()) else {
            throw NuageError(.configuration, "unknown kernel '\(name)' (known: \(allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard kernel.isAvailable else {
            throw NuageError(.configuration, "kernel '\(name)' needs CPU features this machine lacks (available: \(available.map(\.rawValue).joined(separator: ", ")))")
        }
        return kernel
    }

    public var description: String { rawValue }
}
