import Foundation

/// Reads a prompt into a model state a chunk at a time, the one prefill loop that
/// `Generator` and `BatchGenerator` share (so a sequence alone in a batch gets the
/// serial path's arithmetic). The stop flag is read between chunks, so the chunk size
/// bounds how long a stop waits while a long prompt is read; every chunk that ran is
/// whole in the state, so a stopped prefill leaves a valid prefix.
struct ChunkedPrefill {
    /// Tokens per forward call at first, and the unit of every later chunk.
    static let firstChunk = 64
    /// Later chunks grow (in units of `firstChunk`, up to `maxChunk`, the forward's own
    /// chunk, which `bench` prefill runs) to about this much work. Each chunk pays a fixed
    /// cost (every layer's weights dequantized once for sgemm, and a pool barrier per
    /// product), so small chunks cost prefill speed: a 4803-token prompt on 2 busy cores
    /// read at 82 tok/s in chunks sized to 0.25 s (64 tokens at that load) and at 112
    /// tok/s in 512-token chunks, as fast as `bench` prefill of the same length (108).
    /// One second keeps a stop (Esc) within about a second of work. A chunk at most
    /// doubles the last one: the time of 64 tokens says little about 512 (a busy or
    /// throttled core, attention growing with depth), so the estimate never
    /// extrapolates past twice what was measured.
    static let chunkSeconds = 1.0
    static let maxChunk = 512

    let model: LanguageModel
    let sparsity: SparsityMode

    /// The prompt's last-token logits, or nil when `cancel` stopped it (then `prefilled`
    /// says how many tokens the state holds). `afterChunk` sees each chunk once it is in.
    func run(
        _ tokens: [Int], state: ModelState, cancel: CancellationFlag?, stats: inout [TokenStats],
        prefilled: inout Int, afterChunk: ([Int]) -> Void = { _ in }
    ) throws -> [Float]? {
        var logits: [Float] = []
        var chunkSize = Self.firstChunk
        prefilled = 0
        while prefilled < tokens.count {
            if cancel?.isCancelled == true { return nil }
            let end = min(tokens.count, prefilled + chunkSize)
            let chunk = Array(tokens[prefilled..<end])
            let started = Date()
            logits = try model.forward(
                chunk, state: state, logitRows: end == tokens.count ? [chunk.count - 1] : [],
                sparsity: sparsity, stats: &stats)
            afterChunk(chunk)
            prefilled = end
            chunkSize = Self.nextChunkSize(
                after: chunk.count, secondsPerToken: Date().timeIntervalSince(started) / Double(chunk.count))
        }
        return logits
    }

    static func nextChunkSize(after last: Int, secondsPerToken: Double) -> Int {
        let units = Int(chunkSeconds / max(secondsPerToken, 1e-9)) / firstChunk
        return min(maxChunk, 2 * max(last, firstChunk), max(1, units) * firstChunk)
    }
}
