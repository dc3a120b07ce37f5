import Crypto
import NuageCore

/// Decodes an `aws-chunked` request body: `hex-size[;chunk-signature=sig]\r\n data \r\n …
/// 0[;chunk-signature=sig]\r\n [trailer: value\r\n …] \r\n`, verifying the chained chunk
/// signatures (and the trailer signature) when the body is signed.
///
/// Bytes are handed on as they arrive; a chunk whose signature fails throws when the chunk
/// ends, so the caller, which commits only after the whole body, stores nothing.
public struct AWSChunkedDecoder: Sendable {
    public enum Mode: Sendable {
        /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (`trailer: false`) or `…-PAYLOAD-TRAILER`.
        case signed(SigV4SigningContext, trailer: Bool)
        /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
        case unsigned
    }

    /// Longest chunk header or trailer line accepted.
    public static let maximumLine = 4096
    /// Most trailer bytes accepted in all.
    public static let maximumTrailers = 16 << 10

    private enum State: Sendable {
        case header
        case data(remaining: Int)
        case dataEnd
        case trailers
        case done
    }

    private let mode: Mode
    private var state = State.header
    private var line: [UInt8] = []
    private var previousSignature: String
    private var chunkSignature = ""
    private var hasher = SHA256()
    private var trailerText = ""
    /// Trailing headers (lower-case names), such as `x-amz-checksum-crc32`.
    public private(set) var trailers: [String: String] = [:]
    /// Payload bytes decoded so far.
    public private(set) var decodedLength: Int64 = 0

    public init(mode: Mode) {
        self.mode = mode
        if case .signed(let context, _) = mode { previousSignature = context.seedSignature } else { previousSignature = "" }
    }

    public var isComplete: Bool { if case .done = state { true } else { false } }

    /// Decodes `input`, appending payload bytes to `output`.
    public mutating func decode(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SigV4Error) {
        var index = 0
        while index < input.count {
            switch state {
            case .data(let remaining):
                let n = min(remaining, input.count - index)
                let piece = UnsafeRawBufferPointer(rebasing: input[index..<(index + n)])
                output.append(contentsOf: piece)
                if case .signed = mode { hasher.update(bufferPointer: piece) }
                decodedLength += Int64(n)
                index += n
                if remaining - n == 0 {
                    try endChunk()
                    state = .dataEnd
                } else {
                    state = .data(remaining: remaining - n)
                }
            case .done:
                throw .malformed("bytes after the end of the aws-chunked body")
            case .header, .dataEnd, .trailers:
                let byte = input[index]
                index += 1
                line.append(byte)
                guard line.count <= Self.maximumLine else { throw .malformed("aws-chunked line longer than \(Self.maximumLine) bytes") }
                if line.count >= 2 && line[line.count - 2] == 13 && byte == 10 {
                    let text = line.dropLast(2)
                    line.removeAll(keepingCapacity: true)
                    try handleLine(String(decoding: text, as: UTF8.self))
                }
            }
        }
    }

    /// Checks that the body ended where it should.
    public func finish() throws(SigV4Error) {
        guard case .done = state else { throw .malformed("the aws-chunked body ended early") }
    }

    private mutating func handleLine(_ text: String) throws(SigV4Error) {
        switch state {
        case .dataEnd:
            guard text.isEmpty else { throw .malformed("chunk data longer than its declared size") }
            state = .header
        case .header:
            let parts = text.split(separator: ";", maxSplits: 1)
            guard let sizeText = parts.first, let size = Int(sizeText, radix: 16), size >= 0, sizeText.count <= 16 else {
                throw .malformed("malformed chunk size '\(text.prefix(32))'")
            }
            if case .signed = mode {
                guard parts.count == 2, parts[1].hasPrefix("chunk-signature=") else { throw .malformed("a chunk lacks its signature") }
                chunkSignature = String(parts[1].dropFirst("chunk-signature=".count))
            }
            hasher = SHA256()
            if size == 0 {
                try endChunk()
                state = .trailers
            } else {
                state = .data(remaining: size)
            }
        case .trailers:
            if text.isEmpty {
                try checkTrailers()
                state = .done
                return
            }
            guard trailerText.utf8.count + text.utf8.count <= Self.maximumTrailers else { throw .malformed("trailers too large") }
            guard let colon = text.firstIndex(of: ":") else { throw .malformed("malformed trailer '\(text.prefix(32))'") }
            let name = text[..<colon].lowercased()
            let value = String(SigV4.trimmingWhitespace(text[text.index(after: colon)...]))
            if name == "x-amz-trailer-signature" {
                trailers[name] = value
            } else {
                trailers[name] = value
                trailerText += "\(name):\(value)\n"
            }
        case .data, .done:
            break
        }
    }

    /// Verifies the signature of the chunk that just ended.
    private mutating func endChunk() throws(SigV4Error) {
        guard case .signed(let context, _) = mode else { return }
        let hash = Array(hasher.finalize()).hex
        let expected = context.chunkSignature(previous: previousSignature, chunkHash: hash)
        guard ConstantTimeText.equal(expected, chunkSignature.lowercased()) else {
            throw .payloadMismatch("a chunk signature does not match")
        }
        previousSignature = expected
    }

    private func checkTrailers() throws(SigV4Error) {
        guard case .signed(let context, let trailer) = mode else { return }
        if !trailer {
            guard trailers.isEmpty else { throw .malformed("trailers in a body declared without them") }
            return
        }
        guard let signature = trailers["x-amz-trailer-signature"] else { throw .malformed("the trailer signature is missing") }
        let expected = context.trailerSignature(previous: previousSignature, trailerHash: SigV4.sha256Hex(Array(trailerText.utf8)))
        guard ConstantTimeText.equal(expected, signature.lowercased()) else {
            throw .payloadMismatch("the trailer signature does not match")
        }
    }
}
