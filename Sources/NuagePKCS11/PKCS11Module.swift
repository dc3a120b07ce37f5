import CPKCS11
import Foundation
import NuageCore
import Synchronization

/// A PKCS#11 module (the token vendor's shared library), loaded with `dlopen` and initialised
/// once per process: every ``PKCS11Token`` on the same library shares it.
final class PKCS11Module: @unchecked Sendable {
    let path: String
    let functions: UnsafeMutablePointer<ck_function_list>

    private static let loaded = Mutex<[String: PKCS11Module]>([:])

    /// The module at `path`, loaded and initialised on first use.
    /// - Throws: `NuageError.configuration` when it cannot be loaded or initialised.
    static func named(_ path: String) throws -> PKCS11Module {
        try loaded.withLock { modules in
            if let module = modules[path] { return module }
            let module = try PKCS11Module(path: path)
            modules[path] = module
            return module
        }
    }

    private init(path: String) throws {
        self.path = path
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw NuageError(.configuration, "cannot load the PKCS#11 module \(path): \(String(cString: dlerror()))")
        }
        guard let symbol = dlsym(handle, "C_GetFunctionList") else {
            throw NuageError(.configuration, "\(path) is not a PKCS#11 module (no C_GetFunctionList)")
        }
        typealias GetFunctionList = @convention(c) (UnsafeMutablePointer<UnsafeMutablePointer<ck_function_list>?>?) -> ck_rv_t
        var list: UnsafeMutablePointer<ck_function_list>?
        let rv = unsafeBitCast(symbol, to: GetFunctionList.self)(&list)
        guard rv == CKR_OK, let list else {
            throw NuageError(.configuration, "\(path): C_GetFunctionList failed: \(Self.name(rv))")
        }
        functions = list
        let initialized = initialize()
        guard initialized == CKR_OK || initialized == CKR_CRYPTOKI_ALREADY_INITIALIZED else {
            throw NuageError(.configuration, "\(path): C_Initialize failed: \(Self.name(initialized))")
        }
        calls = Mutex(CallState(module: self))
    }

    private func initialize() -> ck_rv_t {
        // The library may use the system's threads and locks; every call of ours is serialised
        // per session anyway.
        var arguments = ck_c_initialize_args(create_mutex: nil, destroy_mutex: nil, lock_mutex: nil, unlock_mutex: nil,
                                             flags: ck_flags_t(CKF_OS_LOCKING_OK), reserved: nil)
        return functions.pointee.C_Initialize!(&arguments)
    }

    /// What every call into the library holds: re-initialisation never runs under another call.
    struct CallState: ~Copyable {
        let module: PKCS11Module
        /// Re-initialisations so far: sessions (and object handles) of an earlier one are gone,
        /// and their numbers may name another token's session now.
        private(set) var generation = 0
        private var lastReinitialization: ContinuousClock.Instant?

        init(module: PKCS11Module) { self.module = module }

        /// Finalises and initialises the library again, so that it looks for its tokens anew (some,
        /// SoftHSM2 among them, list tokens only when initialised: a token removed and put back is
        /// seen only then). At most once every 5 seconds; every session on the module ends, and
        /// their owners open new ones on their next call (the generation changed).
        /// - Returns: whether it was done now.
        mutating func reinitialize() -> Bool {
            if let last = lastReinitialization, ContinuousClock.now - last < .seconds(5) { return false }
            lastReinitialization = .now
            _ = module.functions.pointee.C_Finalize!(nil)
            generation += 1
            return module.initialize() == CKR_OK
        }
    }

    private var calls: Mutex<CallState>!

    /// Runs `body` as the only call into the library.
    func serialized<R>(_ body: (inout CallState) throws -> R) rethrows -> R {
        try calls.withLock { try body(&$0) }
    }

    /// Throws `NuageError.keyUnavailable` (or `configuration` for a wrong PIN) unless `rv` is CKR_OK.
    static func check(_ rv: ck_rv_t, _ call: String) throws {
        guard rv != CKR_OK else { return }
        let code: NuageError.Code = rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ? .configuration : .keyUnavailable
        throw NuageError(code, "the master key's token refused \(call): \(name(rv))")
    }

    /// Whether `rv` says the session or the token went away (worth reopening once).
    static func isGone(_ rv: ck_rv_t) -> Bool {
        [CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED,
         CKR_OBJECT_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID, CKR_USER_NOT_LOGGED_IN, CKR_CRYPTOKI_NOT_INITIALIZED].contains(rv)
    }

    /// The name PKCS#11 gives a return value.
    static func name(_ rv: ck_rv_t) -> String {
        let names: [ck_rv_t: String] = [
            ck_rv_t(CKR_OK): "CKR_OK", ck_rv_t(CKR_GENERAL_ERROR): "CKR_GENERAL_ERROR",
            ck_rv_t(CKR_ARGUMENTS_BAD): "CKR_ARGUMENTS_BAD", ck_rv_t(CKR_ATTRIBUTE_SENSITIVE): "CKR_ATTRIBUTE_SENSITIVE",
            ck_rv_t(CKR_ATTRIBUTE_TYPE_INVALID): "CKR_ATTRIBUTE_TYPE_INVALID", ck_rv_t(CKR_DEVICE_ERROR): "CKR_DEVICE_ERROR",
            ck_rv_t(CKR_DEVICE_REMOVED): "CKR_DEVICE_REMOVED", ck_rv_t(CKR_ENCRYPTED_DATA_INVALID): "CKR_ENCRYPTED_DATA_INVALID",
            ck_rv_t(CKR_ENCRYPTED_DATA_LEN_RANGE): "CKR_ENCRYPTED_DATA_LEN_RANGE", ck_rv_t(CKR_KEY_HANDLE_INVALID): "CKR_KEY_HANDLE_INVALID",
            ck_rv_t(CKR_MECHANISM_INVALID): "CKR_MECHANISM_INVALID", ck_rv_t(CKR_MECHANISM_PARAM_INVALID): "CKR_MECHANISM_PARAM_INVALID",
            ck_rv_t(CKR_OBJECT_HANDLE_INVALID): "CKR_OBJECT_HANDLE_INVALID", ck_rv_t(CKR_PIN_INCORRECT): "CKR_PIN_INCORRECT",
            ck_rv_t(CKR_PIN_LOCKED): "CKR_PIN_LOCKED", ck_rv_t(CKR_SESSION_CLOSED): "CKR_SESSION_CLOSED",
            ck_rv_t(CKR_SESSION_HANDLE_INVALID): "CKR_SESSION_HANDLE_INVALID", ck_rv_t(CKR_TOKEN_NOT_PRESENT): "CKR_TOKEN_NOT_PRESENT",
            ck_rv_t(CKR_TOKEN_NOT_RECOGNIZED): "CKR_TOKEN_NOT_RECOGNIZED", ck_rv_t(CKR_USER_NOT_LOGGED_IN): "CKR_USER_NOT_LOGGED_IN",
            ck_rv_t(CKR_TEMPLATE_INCONSISTENT): "CKR_TEMPLATE_INCONSISTENT", ck_rv_t(CKR_TEMPLATE_INCOMPLETE): "CKR_TEMPLATE_INCOMPLETE",
            ck_rv_t(CKR_CRYPTOKI_NOT_INITIALIZED): "CKR_CRYPTOKI_NOT_INITIALIZED", ck_rv_t(CKR_BUFFER_TOO_SMALL): "CKR_BUFFER_TOO_SMALL",
        ]
        return names[rv] ?? "CKR 0x" + String(rv, radix: 16)
    }
}
