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
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a date")
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
            throw SessionError("a value out of range")
        }
    }

    /// "messages[3].time: expected a date": the field's path and what it should hold.
    static func describe(_ error: DecodingError) -> String {
        ProblemLog.oneLine(describeRaw(error))
    }

    private static func describeRaw(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let ctx):
            return "\(ProblemLog.path(ctx.codingPath + [key])): missing"
        case .typeMismatch(_, let ctx) where ctx.codingPath.isEmpty, .valueNotFound(_, let ctx) where ctx.codingPath.isEmpty:
            return "not a JSON object"
        case .typeMismatch(let type, let ctx):
            return "\(ProblemLog.path(ctx.codingPath)): expected \(expectation(type))"
        case .valueNotFound(let type, let ctx):
            return "\(ProblemLog.path(ctx.codingPath)): expected \(expectation(type)), found null"
        case .dataCorrupted(let ctx):
            if ctx.codingPath.isEmpty { return "not valid JSON: truncated or damaged" }
            return "\(ProblemLog.path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default:
            return "not a session file"
        }
    }

    /// What a value of `type` looks like, in words.
    static func expectation(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type, is Int64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "text"
        case is Bool.Type: return "true or false"
        case is Date.Type: return "a date"
        case is UUID.Type: return "a UUID"
        default: return "a \(type)".replacingOccurrences(of: "Swift.", with: "")
        }
    }
}
