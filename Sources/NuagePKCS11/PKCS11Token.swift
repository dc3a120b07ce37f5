import CPKCS11
import Foundation
import NuageCore
import NuageCrypto
import Synchronization

/// The master key as a non-extractable AES-256 secret key inside a PKCS#11 token (an HSM, or
/// SoftHSM2 in tests). The token seals and opens data keys with it (CKM_AES_GCM) and computes
/// the CMAC that sub-keys derive from (CKM_AES_CMAC); the key's value never leaves the token.
///
/// One session per token object. Every call into the library is serialised by its module (a
/// PKCS#11 session is not for two threads at once, and re-initialising the library must not
/// run under another call). When the session or the token goes away the next call opens a new
/// session and logs in again, once; if that fails too the call throws
/// `NuageError.keyUnavailable`. Calls block their thread for as long as the token takes:
/// tens of microseconds with SoftHSM2, more with a network HSM.
public final class PKCS11Token: MasterKeyToken, @unchecked Sendable {
    public let uri: PKCS11URI
    public var name: String { uri.description }
    private let module: PKCS11Module
    private let pin: [UInt8]
    private let connection = Mutex<Connection?>(nil)

    private struct Connection {
        var session: ck_session_handle_t
        var key: ck_object_handle_t
        /// The module's generation the session belongs to.
        var generation: Int
    }

    /// A decryption failed in a way that is either a wrong tag or a broken token (SoftHSM2
    /// answers both with CKR_GENERAL_ERROR).
    private struct AmbiguousDecryptFailure: Error { let rv: ck_rv_t }

    /// Opens the token and finds the key, creating it when `create` is set and no key of that
    /// label exists. A key that is not AES-256, sensitive and non-extractable is refused.
    /// - Returns: the token, and whether the key was created now.
    /// - Throws: `NuageError.configuration` (module, URI, PIN, unsuitable key) or `keyUnavailable`.
    public static func open(module path: String, uri: PKCS11URI, pin: String, create: Bool = false) throws -> (token: PKCS11Token, created: Bool) {
        let token = PKCS11Token(module: try PKCS11Module.named(path), uri: uri, pin: Array(pin.utf8))
        let created = try token.module.serialized { state in
            try token.connection.withLock { connection in
                let (opened, created) = try token.connect(create: create, state: &state)
                connection = opened
                return created
            }
        }
        return (token, created)
    }

    private init(module: PKCS11Module, uri: PKCS11URI, pin: [UInt8]) {
        self.module = module
        self.uri = uri
        self.pin = pin
    }

    deinit {
        module.serialized { state in
            if let open = connection.withLock({ $0 }), open.generation == state.generation { _ = functions.C_CloseSession!(open.session) }
        }
    }

    private var functions: ck_function_list { module.functions.pointee }

    // MARK: MasterKeyToken

    public func seal(_ plaintext: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        try gcm(encrypt: true, plaintext, nonce: nonce, associatedData: associatedData)
    }

    public func open(_ sealed: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        guard sealed.count >= 16 else { throw NuageError(.integrity, "sealed bytes shorter than a GCM tag") }
        do {
            return try gcm(encrypt: false, sealed, nonce: nonce, associatedData: associatedData)
        } catch let failure as AmbiguousDecryptFailure {
            // SoftHSM2 answers a failed GCM tag with CKR_GENERAL_ERROR: when the token still
            // answers otherwise, the bytes were at fault, not the token.
            guard (try? cmac([0])) != nil else {
                throw NuageError(.keyUnavailable, "the master key's token refused C_Decrypt (CKM_AES_GCM): \(PKCS11Module.name(failure.rv))")
            }
            throw NuageError(.integrity, "a key wrapped by the master key's token failed authentication")
        }
    }

    public func cmac(_ message: [UInt8]) throws -> [UInt8] {
        try call("C_Sign (CKM_AES_CMAC)") { f, session, key in
            var mechanism = ck_mechanism(mechanism: ck_mechanism_type_t(CKM_AES_CMAC), parameter: nil, parameter_len: 0)
            let rv = f.C_SignInit!(session, &mechanism, key)
            guard rv == CKR_OK else { return (rv, []) }
            var output = [UInt8](repeating: 0, count: 16)
            var length = UInt(output.count)
            var input = message
            let signed = input.withUnsafeMutableBufferPointer { input in
                output.withUnsafeMutableBufferPointer { f.C_Sign!(session, input.baseAddress, UInt(input.count), $0.baseAddress, &length) }
            }
            return (signed, Array(output.prefix(Int(length))))
        }
    }

    /// Whether the key's value can be read out of the token (it never should): the return value
    /// of C_GetAttributeValue(CKA_VALUE), CKR_ATTRIBUTE_SENSITIVE for a proper master key.
    public func valueReadResult() throws -> String {
        try module.serialized { state in try connection.withLock { connection in
            if connection?.generation != state.generation { connection = try connect(create: false, state: &state).0 }
            var buffer = [UInt8](repeating: 0, count: 64)
            let rv = buffer.withUnsafeMutableBytes { bytes in
                var attribute = ck_attribute(type: ck_attribute_type_t(CKA_VALUE), value: bytes.baseAddress, value_len: UInt(bytes.count))
                return functions.C_GetAttributeValue!(connection!.session, connection!.key, &attribute, 1)
            }
            return PKCS11Module.name(rv)
        } }
    }

    /// Destroys the key object in the token: nothing wrapped under it can be unwrapped again,
    /// by this gateway or any other holder of the token.
    public func destroyKey() throws {
        try call("C_DestroyObject") { f, session, key in (f.C_DestroyObject!(session, key), ()) }
        module.serialized { state in
            connection.withLock { connection in
                if let open = connection, open.generation == state.generation { _ = functions.C_CloseSession!(open.session) }
                connection = nil
            }
        }
    }

    // MARK: Calls

    private func gcm(encrypt: Bool, _ input: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        guard nonce.count == 12 else { throw NuageError(.invalidArgument, "an AES-GCM nonce is 12 bytes") }
        let output: [UInt8] = try call(encrypt ? "C_Encrypt (CKM_AES_GCM)" : "C_Decrypt (CKM_AES_GCM)") { f, session, key -> (ck_rv_t, [UInt8]) in
            var nonce = nonce, associatedData = associatedData, input = input
            return nonce.withUnsafeMutableBufferPointer { nonce -> (ck_rv_t, [UInt8]) in
                associatedData.withUnsafeMutableBufferPointer { ad -> (ck_rv_t, [UInt8]) in
                    var parameters = ck_gcm_params(iv_ptr: nonce.baseAddress, iv_len: 12, iv_bits: 96, aad_ptr: ad.baseAddress,
                                                   aad_len: UInt(ad.count), tag_bits: 128)
                    return withUnsafeMutableBytes(of: &parameters) { parameters -> (ck_rv_t, [UInt8]) in
                        var mechanism = ck_mechanism(mechanism: ck_mechanism_type_t(CKM_AES_GCM), parameter: parameters.baseAddress,
                                                     parameter_len: UInt(parameters.count))
                        let started = encrypt ? f.C_EncryptInit!(session, &mechanism, key) : f.C_DecryptInit!(session, &mechanism, key)
                        guard started == CKR_OK else { return (started, [UInt8]()) }
                        var output = [UInt8](repeating: 0, count: input.count + 16)
                        var length = UInt(output.count)
                        let rv = input.withUnsafeMutableBufferPointer { input in
                            output.withUnsafeMutableBufferPointer { out in
                                encrypt ? f.C_Encrypt!(session, input.baseAddress, UInt(input.count), out.baseAddress, &length)
                                    : f.C_Decrypt!(session, input.baseAddress, UInt(input.count), out.baseAddress, &length)
                            }
                        }
                        return (rv, Array(output.prefix(Int(length))))
                    }
                }
            }
        } failed: { (rv: ck_rv_t) -> (any Error)? in
            guard !encrypt else { return nil }
            if rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE {
                return NuageError(.integrity, "a key wrapped by the master key's token failed authentication")
            }
            return rv == CKR_GENERAL_ERROR ? AmbiguousDecryptFailure(rv: rv) : nil
        }
        return output
    }

    /// Runs `body` on the session (opened first if need be); when the session or token is gone,
    /// reconnects and runs it once more.
    private func call<R>(_ what: String,
                         _ body: (ck_function_list, ck_session_handle_t, ck_object_handle_t) -> (ck_rv_t, R),
                         failed: (ck_rv_t) -> (any Error)? = { _ in nil }) throws -> R {
        try module.serialized { state in try connection.withLock { connection in
            for attempt in 0..<2 {
                // A session of an earlier generation is gone, its numbers perhaps reused.
                if connection?.generation != state.generation { connection = try connect(create: false, state: &state).0 }
                let (rv, result) = body(functions, connection!.session, connection!.key)
                if rv == CKR_OK { return result }
                if let error = failed(rv) { throw error }
                if attempt == 0 && PKCS11Module.isGone(rv) {
                    _ = functions.C_CloseSession!(connection!.session)
                    connection = nil
                    continue
                }
                try PKCS11Module.check(rv, what)
            }
            throw NuageError(.keyUnavailable, "the master key's token did not answer \(what)")
        } }
    }

    /// A logged-in session on the token the URI names, and the key's handle.
    private func connect(create: Bool, state: inout PKCS11Module.CallState) throws -> (Connection, created: Bool) {
        let f = functions
        let slot = try findSlot(state: &state)
        var session: ck_session_handle_t = 0
        try PKCS11Module.check(f.C_OpenSession!(slot, ck_flags_t(CKF_SERIAL_SESSION | CKF_RW_SESSION), nil, nil, &session), "C_OpenSession")
        do {
            var pin = self.pin
            let login = pin.withUnsafeMutableBufferPointer { f.C_Login!(session, ck_user_type_t(CKU_USER), $0.baseAddress, UInt($0.count)) }
            if login != CKR_USER_ALREADY_LOGGED_IN { try PKCS11Module.check(login, "C_Login") }
            var created = false
            var key = try findKey(session)
            if key == nil && create {
                key = try generateKey(session)
                created = true
            }
            guard let key else {
                throw NuageError(.configuration, "no secret key labelled '\(uri.object)' in token '\(uri.token)' (nuage init --master-key pkcs11 creates it)")
            }
            try checkKey(session, key)
            return (Connection(session: session, key: key, generation: state.generation), created)
        } catch {
            _ = f.C_CloseSession!(session)
            throw error
        }
    }

    private func findSlot(state: inout PKCS11Module.CallState) throws -> ck_slot_id_t {
        do {
            return try scanSlots()
        } catch let error as NuageError where error.code == .keyUnavailable {
            // The token may be back while the library still lists what it saw when it started.
            guard state.reinitialize() else { throw error }
            return try scanSlots()
        }
    }

    private func scanSlots() throws -> ck_slot_id_t {
        let f = functions
        var count: UInt = 0
        try PKCS11Module.check(f.C_GetSlotList!(1, nil, &count), "C_GetSlotList")
        var slots = [ck_slot_id_t](repeating: 0, count: Int(count))
        try PKCS11Module.check(slots.withUnsafeMutableBufferPointer { f.C_GetSlotList!(1, $0.baseAddress, &count) }, "C_GetSlotList")
        var labels: [String] = []
        for slot in slots.prefix(Int(count)) {
            var info = ck_token_info()
            guard f.C_GetTokenInfo!(slot, &info) == CKR_OK else { continue }
            let label = Self.text(of: info.label), serial = Self.text(of: info.serial_number)
            let manufacturer = Self.text(of: info.manufacturer_id), model = Self.text(of: info.model)
            labels.append(label)
            if label == uri.token && (uri.serial ?? serial) == serial && (uri.manufacturer ?? manufacturer) == manufacturer
                && (uri.model ?? model) == model {
                return slot
            }
        }
        throw NuageError(.keyUnavailable, "no token '\(uri.token)' in \(module.path) (tokens present: \(labels.isEmpty ? "none" : labels.joined(separator: ", ")))")
    }

    /// A PKCS#11 fixed-size text field: UTF-8, padded with spaces.
    private static func text<T>(of field: T) -> String {
        withUnsafeBytes(of: field) { String(decoding: $0, as: UTF8.self) }.trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
    }

    private func findKey(_ session: ck_session_handle_t) throws -> ck_object_handle_t? {
        let f = functions
        let template: [(UInt, [UInt8])] = [(CKA_CLASS, Self.ulong(CKO_SECRET_KEY)), (CKA_LABEL, Array(uri.object.utf8))]
        try Self.withTemplate(template) { try PKCS11Module.check(f.C_FindObjectsInit!(session, $0, $1), "C_FindObjectsInit") }
        defer { _ = f.C_FindObjectsFinal!(session) }
        var handles = [ck_object_handle_t](repeating: 0, count: 2)
        var found: UInt = 0
        try PKCS11Module.check(handles.withUnsafeMutableBufferPointer { f.C_FindObjects!(session, $0.baseAddress, 2, &found) }, "C_FindObjects")
        guard found <= 1 else {
            throw NuageError(.configuration, "token '\(uri.token)' holds several secret keys labelled '\(uri.object)'; label the master key uniquely")
        }
        return found == 1 ? handles[0] : nil
    }

    private func generateKey(_ session: ck_session_handle_t) throws -> ck_object_handle_t {
        let yes: [UInt8] = [1], no: [UInt8] = [0]
        let template: [(UInt, [UInt8])] = [
            (CKA_CLASS, Self.ulong(CKO_SECRET_KEY)), (CKA_KEY_TYPE, Self.ulong(CKK_AES)), (CKA_VALUE_LEN, Self.ulong(32)),
            (CKA_TOKEN, yes), (CKA_PRIVATE, yes), (CKA_SENSITIVE, yes), (CKA_EXTRACTABLE, no),
            (CKA_ENCRYPT, yes), (CKA_DECRYPT, yes), (CKA_SIGN, yes), (CKA_VERIFY, yes), (CKA_WRAP, no), (CKA_UNWRAP, no),
            (CKA_LABEL, Array(uri.object.utf8)),
        ]
        var mechanism = ck_mechanism(mechanism: ck_mechanism_type_t(CKM_AES_KEY_GEN), parameter: nil, parameter_len: 0)
        var key: ck_object_handle_t = 0
        let f = functions
        try Self.withTemplate(template) { try PKCS11Module.check(f.C_GenerateKey!(session, &mechanism, $0, $1, &key), "C_GenerateKey (CKM_AES_KEY_GEN)") }
        return key
    }

    /// Refuses a key that is not AES-256, or whose value could leave the token.
    private func checkKey(_ session: ck_session_handle_t, _ key: ck_object_handle_t) throws {
        let f = functions
        var keyType: UInt = 0, length: UInt = 0
        var sensitive: UInt8 = 0, extractable: UInt8 = 1
        let rv = withUnsafeMutableBytes(of: &keyType) { keyType in
            withUnsafeMutableBytes(of: &length) { length in
                withUnsafeMutableBytes(of: &sensitive) { sensitive in
                    withUnsafeMutableBytes(of: &extractable) { extractable in
                        var attributes = [
                            ck_attribute(type: ck_attribute_type_t(CKA_KEY_TYPE), value: keyType.baseAddress, value_len: UInt(keyType.count)),
                            ck_attribute(type: ck_attribute_type_t(CKA_VALUE_LEN), value: length.baseAddress, value_len: UInt(length.count)),
                            ck_attribute(type: ck_attribute_type_t(CKA_SENSITIVE), value: sensitive.baseAddress, value_len: 1),
                            ck_attribute(type: ck_attribute_type_t(CKA_EXTRACTABLE), value: extractable.baseAddress, value_len: 1),
                        ]
                        return attributes.withUnsafeMutableBufferPointer { f.C_GetAttributeValue!(session, key, $0.baseAddress, UInt($0.count)) }
                    }
                }
            }
        }
        try PKCS11Module.check(rv, "C_GetAttributeValue")
        guard keyType == CKK_AES, length == 32 else {
            throw NuageError(.configuration, "the key '\(uri.object)' in token '\(uri.token)' is not an AES-256 key")
        }
        guard sensitive != 0, extractable == 0 else {
            throw NuageError(.configuration, "the key '\(uri.object)' in token '\(uri.token)' can leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true); a master key must not")
        }
    }

    private static func ulong(_ value: UInt) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    /// Calls `body` with a C template of these attributes, whose values stay valid during the call.
    private static func withTemplate<R>(_ attributes: [(UInt, [UInt8])],
                                        _ body: (UnsafeMutablePointer<ck_attribute>, UInt) throws -> R) throws -> R {
        let buffers = attributes.map { _, value in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(value.count, 1), alignment: 8)
            buffer.copyBytes(from: value)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        var template = zip(attributes, buffers).map { attribute, buffer in
            ck_attribute(type: ck_attribute_type_t(attribute.0), value: buffer.baseAddress, value_len: UInt(attribute.1.count))
        }
        return try template.withUnsafeMutableBufferPointer { try body($0.baseAddress!, UInt($0.count)) }
    }
}
