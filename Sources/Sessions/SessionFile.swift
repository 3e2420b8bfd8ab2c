import Foundation

/// The on-disk JSON form of a conversation: how it is encoded, and how a file that fails
/// to decode is described in one line.
enum SessionFile {
    /// Files larger than this are refused rather than read into memory.
    static let maxBytes = 256 << 20

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(ISODate.format(date))
        }
        // A stats value can be infinite (e.g. tokens/s of an instant reply); that must
        // never make a save fail.
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let s = try c.decode(String.self)
            guard let date = ISODate.parse(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO-8601 date")
            }
            return date
        }
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    static func encode(_ c: Conversation) throws -> Data {
        var data = try encoder().encode(c)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Decodes a file's bytes; errors are `FutureVersionError` or a `SessionError` whose
    /// description says what is wrong in one line (which field, not a decoder dump).
    static func decode(_ data: Data) throws -> Conversation {
        if data.isEmpty { throw SessionError("empty file") }
        do {
            return try decoder().decode(Conversation.self, from: data)
        } catch let e as FutureVersionError {
            throw e
        } catch let e as DecodingError {
            throw SessionError(describe(e))
        } catch {
            throw SessionError("not valid JSON")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            var s = ""
            for k in keys {
                if let i = k.intValue { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + k.stringValue }
            }
            return s
        }
        switch error {
        case .keyNotFound(let key, let ctx):
            return "missing field '\(path(ctx.codingPath + [key]))'"
        case .typeMismatch(_, let ctx) where ctx.codingPath.isEmpty, .valueNotFound(_, let ctx) where ctx.codingPath.isEmpty:
            return "not a JSON object"
        case .typeMismatch(_, let ctx):
            return "field '\(path(ctx.codingPath))' has the wrong type"
        case .valueNotFound(_, let ctx):
            return "field '\(path(ctx.codingPath))' is null"
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return "not valid JSON: truncated or damaged" }
            return "field '\(path(ctx.codingPath))': \(ctx.debugDescription)"
        @unknown default:
            return "not a session file"
        }
    }
}
