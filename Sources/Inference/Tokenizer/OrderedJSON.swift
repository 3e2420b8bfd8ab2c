import Foundation

/// A JSON value whose objects keep their keys in file order, byte for byte.
/// Tokenizer vocabularies need this: Foundation's dictionaries compare String keys by
/// Unicode canonical equivalence, so distinct pieces such as "é" (U+00E9) and "é"
/// (e + U+0301) would collapse into one entry.
indirect enum OrderedJSON {
    case null, bool(Bool), number(Double), string(String)
    case array([OrderedJSON])
    case object([(key: String, value: OrderedJSON)])

    subscript(key: String) -> OrderedJSON? {
        guard case .object(let pairs) = self else { return nil }
        let k = Array(key.utf8)
        return pairs.first { Array($0.key.utf8) == k }?.value
    }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var int: Int? {
        if case .number(let d) = self, d == d.rounded(), abs(d) < 9e15 { return Int(d) }
        return nil
    }
    var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    var array: [OrderedJSON]? { if case .array(let a) = self { return a }; return nil }
    var pairs: [(key: String, value: OrderedJSON)]? { if case .object(let p) = self { return p }; return nil }

    /// Parses `data`; errors name `what` and the byte offset.
    static func parse(_ data: Data, what: String) throws -> OrderedJSON {
        try data.withUnsafeBytes { buf in
            var p = Parser(b: buf, what: what)
            p.skipSpace()
            let v = try p.value(depth: 0)
            p.skipSpace()
            guard p.i == buf.count else { throw p.fail("trailing data") }
            return v
        }
    }

    private struct Parser {
        let b: UnsafeRawBufferPointer
        let what: String
        var i = 0

        func fail(_ s: String) -> EngineError { .format("\(what): \(s) at byte \(i)") }

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ c: UInt8) throws {
            skipSpace()
            guard i < b.count, b[i] == c else { throw fail("expected '\(Character(UnicodeScalar(c)))'") }
            i += 1
        }

        mutating func literal(_ s: String, _ v: OrderedJSON) throws -> OrderedJSON {
            let u = Array(s.utf8)
            guard b.count - i >= u.count, (0..<u.count).allSatisfy({ b[i + $0] == u[$0] }) else { throw fail("invalid literal") }
            i += u.count
            return v
        }

        mutating func value(depth: Int) throws -> OrderedJSON {
            guard depth < 64 else { throw fail("nesting too deep") }
            skipSpace()
            guard i < b.count else { throw fail("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var pairs: [(key: String, value: OrderedJSON)] = []
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                while true {
                    skipSpace()
                    let k = try string()
                    try expect(UInt8(ascii: ":"))
                    pairs.append((k, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < b.count else { throw fail("unterminated object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [OrderedJSON] = []
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < b.count else { throw fail("unterminated array") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            default: return .number(try number())
            }
        }

        mutating func number() throws -> Double {
            let start = i
            while i < b.count, let c = Optional(b[i]),
                (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2B || c == 0x2E || c == 0x65 || c == 0x45
            { i += 1 }
            guard i > start, let d = Double(String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)) else {
                throw fail("invalid number")
            }
            return d
        }

        mutating func hex4() throws -> UInt32 {
            guard b.count - i >= 4 else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]; i += 1
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw fail("invalid \\u escape")
                }
                v = v << 4 | UInt32(d)
            }
            return v
        }

        mutating func string() throws -> String {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string") }
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw fail("unterminated string") }
                let c = b[i]; i += 1
                if c == UInt8(ascii: "\"") { break }
                if c != UInt8(ascii: "\\") { out.append(c); continue }
                guard i < b.count else { throw fail("unterminated escape") }
                let e = b[i]; i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var u = try hex4()
                    if u >= 0xD800 && u < 0xDC00, b.count - i >= 6, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        let save = i
                        i += 2
                        let lo = try hex4()
                        if lo >= 0xDC00 && lo < 0xE000 { u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00) } else { i = save }
                    }
                    out += Array(String(Character(UnicodeScalar(u) ?? "\u{FFFD}")).utf8)
                default: throw fail("invalid escape")
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
