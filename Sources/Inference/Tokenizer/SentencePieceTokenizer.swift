/// SentencePiece-style BPE as llama.cpp's SPM tokenizer runs it for Gemma:
/// 1. control and user-defined tokens written in the text (`<start_of_turn>`, the
///    whitespace-run tokens, HTML tags, ...) are split out first, longest token first;
/// 2. in the remaining fragments spaces become "▁" and the text is split into UTF-8
///    characters, which are merged pairwise, always the pair whose merged piece has the
///    highest score (ties: leftmost) — the scores are the merge order;
/// 3. a character left that is not in the vocabulary becomes its UTF-8 bytes (<0xNN>).
public final class SentencePieceTokenizer: TextTokenizer, @unchecked Sendable {
    public enum TokenType: Int32, Sendable { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    public let pieces: [String]
    public let scores: [Float]
    public let types: [TokenType]
    public let bosId: Int
    public let eosId: Int
    public let unknownId: Int
    public let endOfTurnId: Int?
    public let addSpacePrefix: Bool
    /// Hugging Face BPE's `fuse_unk`: consecutive unknown characters become one <unk>.
    public let fuseUnknown: Bool
    public var vocabularySize: Int { pieces.count }

    private let pieceBytesTable: [[UInt8]]
    private let lookup: [ByteKey: Int]
    private let byteTokens: [Int]  // byte value → id of <0xNN>, or -1
    private let specials: [(bytes: [UInt8], id: Int)]  // longest first

    public init(
        pieces: [String], scores: [Float], types: [TokenType], bosId: Int, eosId: Int, unknownId: Int,
        addSpacePrefix: Bool, fuseUnknown: Bool = false
    ) throws {
        guard !pieces.isEmpty else { throw EngineError.format("tokenizer vocabulary is empty") }
        guard scores.isEmpty || scores.count == pieces.count else {
            throw EngineError.format("tokenizer has \(pieces.count) tokens but \(scores.count) scores")
        }
        guard types.isEmpty || types.count == pieces.count else {
            throw EngineError.format("tokenizer has \(pieces.count) tokens but \(types.count) token types")
        }
        for (name, id) in [("bos", bosId), ("eos", eosId), ("unknown", unknownId)] where id < 0 || id >= pieces.count {
            throw EngineError.format("tokenizer \(name) id \(id) is outside the vocabulary")
        }
        self.pieces = pieces
        self.scores = scores.isEmpty ? [Float](repeating: 0, count: pieces.count) : scores
        self.types = types.isEmpty ? [TokenType](repeating: .normal, count: pieces.count) : types
        self.bosId = bosId; self.eosId = eosId; self.unknownId = unknownId
        self.addSpacePrefix = addSpacePrefix
        self.fuseUnknown = fuseUnknown
        self.endOfTurnId = pieces.firstIndex(of: "<end_of_turn>")

        var table: [[UInt8]] = []
        table.reserveCapacity(pieces.count)
        var lookup: [ByteKey: Int] = [:]
        lookup.reserveCapacity(pieces.count)
        var bytes = [Int](repeating: -1, count: 256)
        var specials: [(bytes: [UInt8], id: Int)] = []
        for (id, p) in pieces.enumerated() {
            let b = Array(p.utf8)
            table.append(b)
            let type = self.types[id]
            if type == .byte, let v = SentencePieceTokenizer.byteValue(p) { bytes[Int(v)] = id; continue }
            // llama.cpp's special set: control, user-defined and unknown (`<unk>` in text is id 3).
            if (type == .control || type == .userDefined || type == .unknown) && !b.isEmpty { specials.append((b, id)) }
            if lookup[ByteKey(b)] == nil { lookup[ByteKey(b)] = id }
        }
        specials.sort { $0.bytes.count > $1.bytes.count || ($0.bytes.count == $1.bytes.count && $0.id < $1.id) }
        pieceBytesTable = table
        self.lookup = lookup
        byteTokens = bytes
        self.specials = specials
    }

    /// Reads `tokenizer.ggml.*` from a GGUF file; array types are checked.
    public static func fromGGUF(_ g: GGUFFile) throws -> SentencePieceTokenizer {
        let model = (try? g.string("tokenizer.ggml.model")) ?? "llama"
        guard model == "llama" else { throw EngineError.unsupported("tokenizer model \(model) (only SentencePiece/llama)") }
        let pieces = try g.stringArray("tokenizer.ggml.tokens")
        let scores = (try g.optionalNumberArray("tokenizer.ggml.scores") ?? []).map { Float($0) }
        let types = try (try g.optionalNumberArray("tokenizer.ggml.token_type") ?? []).map { v -> TokenType in
            guard let t = TokenType(rawValue: Int32(exactly: v) ?? -1) else {
                throw EngineError.format("tokenizer.ggml.token_type has invalid value \(v)")
            }
            return t
        }
        var addPrefix = false
        if let v = g.metadata["tokenizer.ggml.add_space_prefix"] {
            guard case .bool(let b) = v else { throw EngineError.format("tokenizer.ggml.add_space_prefix is not a bool") }
            addPrefix = b
        }
        return try SentencePieceTokenizer(
            pieces: pieces, scores: scores, types: types,
            bosId: try g.optionalInt("tokenizer.ggml.bos_token_id") ?? 2,
            eosId: try g.optionalInt("tokenizer.ggml.eos_token_id") ?? 1,
            unknownId: try g.optionalInt("tokenizer.ggml.unknown_token_id") ?? 3,
            addSpacePrefix: addPrefix)
    }

    static func byteValue(_ piece: String) -> UInt8? {
        let u = Array(piece.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }  // <0xNN>
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }

    // MARK: encode

    public func encode(_ text: String, addBOS: Bool) -> [Int] {
        var out: [Int] = addBOS ? [bosId] : []
        let bytes = Array(text.utf8)
        // As llama.cpp: the space prefix goes before the first text and every text that follows a special token.
        var afterSpecial = true
        for fragment in partition(bytes) {
            switch fragment {
            case .special(let id):
                out.append(id)
                afterSpecial = true
            case .text(let r):
                var frag = Array(bytes[r])
                if addSpacePrefix && afterSpecial { frag.insert(0x20, at: 0) }
                encodeFragment(frag, into: &out)
                afterSpecial = false
            }
        }
        return out
    }

    enum Fragment { case special(Int), text(Range<Int>) }

    /// Splits out control/user-defined tokens, longest first, as llama.cpp's
    /// tokenizer_st_partition does (each token is searched in every remaining text fragment).
    func partition(_ bytes: [UInt8]) -> [Fragment] {
        var frags: [Fragment] = bytes.isEmpty ? [] : [.text(0..<bytes.count)]
        guard !bytes.isEmpty else { return frags }
        // Only specials whose first byte occurs in the text can match: skip the rest cheaply.
        var present = [Bool](repeating: false, count: 256)
        for b in bytes { present[Int(b)] = true }
        for (sb, id) in specials where present[Int(sb[0])] && sb.count <= bytes.count {
            var next: [Fragment] = []
            next.reserveCapacity(frags.count)
            for f in frags {
                guard case .text(let r) = f, r.count >= sb.count else { next.append(f); continue }
                var start = r.lowerBound
                var i = r.lowerBound
                let last = r.upperBound - sb.count
                while i <= last {
                    if bytes[i] == sb[0] && matches(bytes, i, sb) {
                        if i > start { next.append(.text(start..<i)) }
                        next.append(.special(id))
                        i += sb.count
                        start = i
                    } else {
                        i += 1
                    }
                }
                if start < r.upperBound { next.append(.text(start..<r.upperBound)) }
            }
            frags = next
        }
        return frags
    }

    @inline(__always) private func matches(_ b: [UInt8], _ i: Int, _ s: [UInt8]) -> Bool {
        for k in 0..<s.count where b[i + k] != s[k] { return false }
        return true
    }

    private struct Bigram: Comparable {
        let score: Float, left: Int, size: Int
        static func < (a: Bigram, b: Bigram) -> Bool { a.score < b.score || (a.score == b.score && a.left > b.left) }
    }

    private func encodeFragment(_ raw: [UInt8], into out: inout [Int]) {
        // Spaces → U+2581 (E2 96 81).
        var text: [UInt8] = []
        text.reserveCapacity(raw.count + raw.count / 2)
        for b in raw { if b == 0x20 { text += [0xE2, 0x96, 0x81] } else { text.append(b) } }
        // Symbols are whole UTF-8 characters in a linked list.
        var start: [Int] = [], len: [Int] = [], prev: [Int] = [], next: [Int] = []
        var i = 0
        while i < text.count {
            let b = text[i]
            let n = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            let l = min(n, text.count - i)
            prev.append(start.count - 1); next.append(start.count + 1)
            start.append(i); len.append(l)
            i += l
        }
        guard !start.isEmpty else { return }
        next[next.count - 1] = -1
        var heap = BinaryHeap<Bigram>()
        func tryAdd(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0 else { return }
            let key = ByteKey(Array(text[start[l]..<(start[r] + len[r])]))
            guard let id = lookup[key] else { return }
            heap.push(Bigram(score: scores[id], left: l, size: len[l] + len[r]))
        }
        for s in 1..<start.count { tryAdd(s - 1, s) }
        while let top = heap.pop() {
            let l = top.left, r = next[l]
            // Stale entry: one side was merged since it was queued.
            guard r >= 0, len[l] > 0, len[r] > 0, len[l] + len[r] == top.size else { continue }
            len[l] += len[r]
            len[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[next[r]] = l }
            tryAdd(prev[l], l)
            tryAdd(l, next[l])
        }
        var s = 0
        while s >= 0 {
            let piece = Array(text[start[s]..<(start[s] + len[s])])
            if let id = lookup[ByteKey(piece)] {
                out.append(id)
            } else if piece.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
                for b in piece { out.append(byteTokens[Int(b)]) }
            } else if !(fuseUnknown && s != 0 && out.last == unknownId) {
                // A character with neither a piece nor byte tokens is one <unk> (as
                // SentencePiece and Hugging Face's BPE make it).
                out.append(unknownId)
            }
            s = next[s]
        }
    }

    // MARK: decode

    public func pieceBytes(_ id: Int) -> [UInt8] {
        guard id >= 0 && id < pieces.count else { return [] }
        switch types[id] {
        case .control, .unknown, .unused: return []
        case .byte: return SentencePieceTokenizer.byteValue(pieces[id]).map { [$0] } ?? []
        case .userDefined: return pieceBytesTable[id]
        case .normal:
            var out: [UInt8] = []
            let b = pieceBytesTable[id]
            out.reserveCapacity(b.count)
            var i = 0
            while i < b.count {
                if i + 2 < b.count && b[i] == 0xE2 && b[i + 1] == 0x96 && b[i + 2] == 0x81 { out.append(0x20); i += 3 } else { out.append(b[i]); i += 1 }
            }
            return out
        }
    }

    public func pieceText(_ id: Int) -> String { id >= 0 && id < pieces.count ? pieces[id] : "" }
}

/// Hashable raw bytes: vocabulary lookups must be byte-exact (Swift String equality
/// is Unicode-canonical, which would merge distinct pieces).
struct ByteKey: Hashable {
    let bytes: [UInt8]
    init(_ b: [UInt8]) { bytes = b }
}

/// A max-heap.
struct BinaryHeap<T: Comparable> {
    private var items: [T] = []
    mutating func push(_ x: T) {
        items.append(x)
        var c = items.count - 1
        while c > 0 { let p = (c - 1) / 2; if items[p] < items[c] { items.swapAt(p, c); c = p } else { break } }
    }
    mutating func pop() -> T? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var p = 0
            while true {
                let a = 2 * p + 1, b = a + 1
                var m = p
                if a < items.count && items[m] < items[a] { m = a }
                if b < items.count && items[m] < items[b] { m = b }
                if m == p { break }
                items.swapAt(p, m); p = m
            }
        }
        return top
    }
}
