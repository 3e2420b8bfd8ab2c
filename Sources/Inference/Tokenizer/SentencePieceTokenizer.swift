// PLACEHOLDER: the tokenizer helper replaces this file's body (keep the public API).

/// SentencePiece-style BPE tokenizer with scores as merge ranks and byte fallback.
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
    public var vocabularySize: Int { pieces.count }

    public init(pieces: [String], scores: [Float], types: [TokenType], bosId: Int, eosId: Int, unknownId: Int, addSpacePrefix: Bool) throws {
        self.pieces = pieces; self.scores = scores; self.types = types
        self.bosId = bosId; self.eosId = eosId; self.unknownId = unknownId
        self.addSpacePrefix = addSpacePrefix
        self.endOfTurnId = pieces.firstIndex(of: "<end_of_turn>")
    }

    /// Reads `tokenizer.ggml.*` from a GGUF file.
    public static func fromGGUF(_ g: GGUFFile) throws -> SentencePieceTokenizer {
        let pieces = try g.stringArray("tokenizer.ggml.tokens")
        let scores = (try g.optionalNumberArray("tokenizer.ggml.scores") ?? []).map { Float($0) }
        let types = (try g.optionalNumberArray("tokenizer.ggml.token_type") ?? []).map { TokenType(rawValue: Int32($0)) ?? .normal }
        return try SentencePieceTokenizer(pieces: pieces, scores: scores, types: types,
            bosId: try g.optionalInt("tokenizer.ggml.bos_token_id") ?? 2,
            eosId: try g.optionalInt("tokenizer.ggml.eos_token_id") ?? 1,
            unknownId: try g.optionalInt("tokenizer.ggml.unknown_token_id") ?? 3,
            addSpacePrefix: false)
    }

    public func encode(_ text: String, addBOS: Bool) -> [Int] { addBOS ? [bosId] : [] }
    public func pieceBytes(_ id: Int) -> [UInt8] {
        guard id >= 0 && id < pieces.count else { return [] }
        return Array(pieces[id].replacingOccurrences(of: "\u{2581}", with: " ").utf8)
    }
    public func pieceText(_ id: Int) -> String { id >= 0 && id < pieces.count ? pieces[id] : "" }
}
