import Foundation
import NuageCore

/// An RFC 7512 `pkcs11:` URI naming the token and the key object: `pkcs11:token=T;object=L`.
///
/// Path attributes understood: `token` (the token label), `object` (the key's label), `type`
/// (must be `secret-key` when given), `manufacturer`, `model`, `serial` (the token's). Values
/// are percent-decoded. A PIN in the URI (`pin-value`, `pin-source`) is refused: the PIN comes
/// only from `pin-env` or `pin-file`, never from a string that ends up in a configuration file
/// or a log. Any other attribute is refused, so that a typo never names another key.
public struct PKCS11URI: Sendable, Equatable, CustomStringConvertible {
    public var token: String
    public var object: String
    public var manufacturer: String?
    public var model: String?
    public var serial: String?

    public init(token: String, object: String) {
        self.token = token
        self.object = object
    }

    /// - Throws: `NuageError.configuration` naming what is wrong.
    public init(_ text: String) throws {
        guard text.hasPrefix("pkcs11:") else {
            throw NuageError(.configuration, "a PKCS#11 URI starts with pkcs11: (RFC 7512), as in pkcs11:token=nuage;object=master")
        }
        let rest = Substring(text.dropFirst("pkcs11:".count))
        if let query = rest.firstIndex(of: "?") {
            let attributes = rest[rest.index(after: query)...].split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).first.map(String.init) ?? "" }
            if attributes.contains(where: { $0 == "pin-value" || $0 == "pin-source" }) {
                throw NuageError(.configuration, "a PIN in the pkcs11: URI is refused: give it with pin-env or pin-file")
            }
            throw NuageError(.configuration, "pkcs11: URI query attributes (\(attributes.joined(separator: ", "))) are not supported")
        }
        var values: [String: String] = [:]
        for attribute in rest.split(separator: ";", omittingEmptySubsequences: true) {
            let pair = attribute.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2, let value = String(pair[1]).removingPercentEncoding else {
                throw NuageError(.configuration, "pkcs11: URI attribute '\(attribute)' is not NAME=VALUE (percent-encoded)")
            }
            let name = String(pair[0])
            guard ["token", "object", "type", "manufacturer", "model", "serial"].contains(name) else {
                throw NuageError(.configuration, "pkcs11: URI attribute '\(name)' is not supported (known: token, object, type, manufacturer, model, serial)")
            }
            guard values[name] == nil else { throw NuageError(.configuration, "pkcs11: URI attribute '\(name)' is given twice") }
            values[name] = value
        }
        if let type = values["type"], type != "secret-key" {
            throw NuageError(.configuration, "the master key is a secret key: pkcs11: URI type=\(type) cannot name it")
        }
        guard let token = values["token"], !token.isEmpty, let object = values["object"], !object.isEmpty else {
            throw NuageError(.configuration, "the pkcs11: URI must name the token and the key: pkcs11:token=LABEL;object=LABEL")
        }
        guard token.utf8.count <= 32 else { throw NuageError(.configuration, "a PKCS#11 token label is at most 32 bytes") }
        self.token = token
        self.object = object
        manufacturer = values["manufacturer"]
        model = values["model"]
        serial = values["serial"]
    }

    public var description: String {
        var parts = [("token", token)]
        for (name, value) in [("manufacturer", manufacturer), ("model", model), ("serial", serial)] {
            if let value { parts.append((name, value)) }
        }
        parts += [("object", object), ("type", "secret-key")]
        return "pkcs11:" + parts.map { "\($0.0)=\(Self.encode($0.1))" }.joined(separator: ";")
    }

    private static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value
    }

    /// RFC 7512's characters that need no encoding in a path attribute's value (ASCII only).
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:[]@!$'()*+,=&")
}
