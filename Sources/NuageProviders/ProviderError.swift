/// The error providers throw, classified so that callers know whether to retry.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case notFound = "not found", unavailable, corrupt
            case permissionDenied = "permission denied", invalidArgument = "invalid argument"
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// The blob does not exist.
        public static let notFound = Kind(.notFound)
        /// The provider could not be reached or failed transiently; worth retrying.
        public static let unavailable = Kind(.unavailable)
        /// Stored bytes are inconsistent with what was written.
        public static let corrupt = Kind(.corrupt)
        /// Credentials or rights were refused; retrying will not help.
        public static let permissionDenied = Kind(.permissionDenied)
        /// A bad blob name or range.
        public static let invalidArgument = Kind(.invalidArgument)
        public var description: String { value.rawValue }
    }

    public var kind: Kind
    public var provider: String
    public var message: String
    public var cause: (any Error)?

    public init(_ kind: Kind, provider: String, _ message: String, cause: (any Error)? = nil) {
        self.kind = kind
        self.provider = provider
        self.message = message
        self.cause = cause
    }

    /// The provider did not answer in time: it is taken as down at once, and not retried (a
    /// provider that stopped answering would make every attempt wait as long).
    public var timedOut = false

    /// An `unavailable` error for a call that got no answer in time.
    public static func timeout(provider: String, _ message: String) -> ProviderError {
        var error = ProviderError(.unavailable, provider: provider, message)
        error.timedOut = true
        return error
    }

    /// Whether trying again may succeed.
    public var isRetryable: Bool { kind == .unavailable && !timedOut }

    public var description: String {
        "provider \(provider): \(kind): \(message)" + (cause.map { " (\($0))" } ?? "")
    }
}
