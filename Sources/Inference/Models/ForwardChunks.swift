/// What every architecture's forward pass does around its layers, written once.
enum ForwardChunks {
    /// Checks the token ids and the room left in the state, then runs `chunk` over
    /// consecutive pieces of at most `GemmaModel.chunk` tokens (bounded scratch; no
    /// longer than the KV rings' slack, so local-attention rings stay valid), each with
    /// the logit rows that fall inside it, relative to the piece. Results are concatenated.
    static func run(
        _ tokens: [Int], rows logitRows: [Int], vocabularySize: Int, length: Int, capacity: Int,
        _ chunk: (_ tokens: [Int], _ rows: [Int]) -> [Float]
    ) throws -> [Float] {
        for t in tokens where t < 0 || t >= vocabularySize {
            throw EngineError.input("token id \(t) is outside the vocabulary (\(vocabularySize))")
        }
        guard length + tokens.count <= capacity else {
            throw EngineError.input("context full: \(length + tokens.count) tokens exceed \(capacity)")
        }
        var out: [Float] = []
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + GemmaModel.chunk)
            let rows = logitRows.filter { $0 >= start && $0 < end }.map { $0 - start }
            out += chunk(Array(tokens[start..<end]), rows)
            start = end
        }
        return out
    }
}

extension ForwardChunks {
    /// `run` for a transformer whose state is a KV cache.
    static func run(
        _ tokens: [Int], rows logitRows: [Int], _ config: ModelConfig, state: ModelState,
        _ chunk: (_ tokens: [Int], _ cache: KVCache, _ rows: [Int]) -> [Float]
    ) throws -> [Float] {
        guard let cache = state as? KVCache else { throw EngineError.input("state does not belong to this model") }
        return try run(
            tokens, rows: logitRows, vocabularySize: config.vocabularySize, length: cache.length,
            capacity: cache.capacity
        ) { chunk($0, cache, $1) }
    }
}

extension Array where Element == TokenStats {
    /// The LM head's share of each token of a chunk starting at position `p0`: a dense
    /// model would run it for every token, the chunk ran it only for `logitRows`.
    /// Also records each token's context length.
    mutating func addHead(vocabularySize: Int, hiddenSize: Int, p0: Int, logitRows: [Int]) {
        let head = Double(2 * vocabularySize * hiddenSize)
        for t in indices {
            self[t].contextLength = p0 + t + 1
            self[t].flopsDense += head
            if logitRows.contains(t) { self[t].flops += head }
        }
    }
}
