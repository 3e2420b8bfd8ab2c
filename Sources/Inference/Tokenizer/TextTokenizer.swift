/// What the engine needs of a tokenizer. SentencePieceTokenizer implements it for
/// both GGUF vocabularies and Hugging Face tokenizer files.
public protocol TextTokenizer: AnyObject, Sendable {
    var vocabularySize: Int { get }
    var bosId: Int { get }
    var eosId: Int { get }
    /// `<end_of_turn>` for Gemma chat models, when the vocabulary has it.
    var endOfTurnId: Int? { get }
    /// Encodes text; control tokens written in the text (e.g. `<start_of_turn>`) are matched whole.
    func encode(_ text: String, addBOS: Bool) -> [Int]
    /// The raw bytes a token stands for (byte-fallback tokens give their byte; control tokens give nothing).
    func pieceBytes(_ id: Int) -> [UInt8]
    /// The token's text as stored in the vocabulary (for display and debugging).
    func pieceText(_ id: Int) -> String
}

extension TextTokenizer {
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes += pieceBytes(id) }
        return String(decoding: bytes, as: UTF8.self)
    }
    public func isStop(_ id: Int) -> Bool { id == eosId || id == endOfTurnId }
}

/// Turns a stream of token ids into text without ever splitting a UTF-8 sequence:
/// bytes of an incomplete character are held back until the next token completes it.
public struct StreamingDecoder: Sendable {
    private var pending: [UInt8] = []
    public init() {}

    public mutating func push(_ bytes: [UInt8]) -> String {
        pending += bytes
        // Find the longest prefix that ends on a complete UTF-8 sequence.
        var end = pending.count
        var i = pending.count - 1
        var back = 0
        while i >= 0 && back < 4 {
            let b = pending[i]
            if b & 0xC0 != 0x80 {  // a lead byte (or ASCII)
                let need = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                if back + 1 < need { end = i }
                break
            }
            i -= 1; back += 1
        }
        let out = String(decoding: pending[0..<end], as: UTF8.self)
        pending.removeFirst(end)
        return out
    }

    /// Whatever is left (an incomplete sequence becomes U+FFFD).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }
}
