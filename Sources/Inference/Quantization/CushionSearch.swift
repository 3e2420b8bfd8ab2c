import Foundation

/// CushionCache's greedy prefix search (Son et al., 2024, "Prefixing attention sinks can
/// mitigate activation outliers for large language model quantization"): a few tokens
/// held in the KV cache before the text become the attention sink, so the text's own
/// tokens no longer carry the sink's huge activations and a static per-tensor int8 scale
/// fits them. The prefix starts as BOS; each step tries every candidate token after it and
/// keeps the one whose prefix gives the calibration text the lowest ActivationProfile
/// .crestLoss (mean over linear inputs of max|x|/rms in dB). It stops early when no
/// candidate lowers the loss.
public enum CushionSearch {
    public struct Step: Sendable, Equatable {
        public var token: Int
        public var loss: Double
    }

    public struct Result: Sendable {
        /// BOS, then the chosen tokens.
        public var prefix: [Int]
        /// Step 0 is BOS alone in the cache; step i added prefix[i].
        public var steps: [Step]
        /// The loss with no cached prefix (BOS measured with the text).
        public var baselineLoss: Double
        public var candidates: [Int]
    }

    public struct Progress: Sendable {
        public var done: Int
        public var total: Int
        public var stage: String
    }

    /// Thrown when `isCancelled` turned true: nothing was written.
    public struct Cancelled: Error, CustomStringConvertible {
        public init() {}
        public var description: String { "cushion search interrupted; no file written" }
    }

    /// Short strings that act as separators in most text (the paper's search favours such
    /// tokens as sinks): tried whatever the calibration text holds.
    static let separatorStrings = ["\n", "\n\n", ".", ",", ":", " ", "the"]

    /// The candidate set: BOS, the separators that are one token, then the `count` most
    /// frequent tokens of the calibration segments (ties: the lower id), without repeats.
    public static func candidates(segments: [[Int]], tokenizer: TextTokenizer, count: Int) -> [Int] {
        var out = [tokenizer.bosId]
        for s in separatorStrings {
            let ids = tokenizer.encode(s, addBOS: false)
            if ids.count == 1 && !out.contains(ids[0]) { out.append(ids[0]) }
        }
        var frequency: [Int: Int] = [:]
        for seg in segments { for t in seg { frequency[t, default: 0] += 1 } }
        let frequent = frequency.keys.sorted { (frequency[$0]!, -$0) > (frequency[$1]!, -$1) }
        for t in frequent.prefix(count) where !out.contains(t) { out.append(t) }
        return out
    }

    /// Calibration segments (token ids without BOS) of at most `segmentLength` tokens, about
    /// `tokens` in all: one from the head of each section of a text cut by form feeds
    /// (calibration/kjv-sparkify.txt's six KJV chunks), or consecutive pieces of a plain text.
    public static func segments(_ text: String, tokenizer: TextTokenizer, tokens: Int, segmentLength: Int = 128) throws -> [[Int]] {
        let sections = text.split(separator: "\u{0C}").map(String.init)
        var pieces: [[Int]] = []
        if sections.count > 1 {
            pieces = sections.map { Array(tokenizer.encode($0, addBOS: false).prefix(segmentLength)) }
        } else {
            let ids = tokenizer.encode(text, addBOS: false)
            pieces = stride(from: 0, to: ids.count, by: segmentLength).map { Array(ids[$0..<min($0 + segmentLength, ids.count)]) }
        }
        var out: [[Int]] = [], total = 0
        for piece in pieces where total < tokens && !piece.isEmpty {
            let kept = Array(piece.prefix(tokens - total))
            out.append(kept)
            total += kept.count
        }
        guard total >= 16 else { throw EngineError.input("calibration text has \(total) tokens; the search needs at least 16") }
        return out
    }

    /// The greedy search. `segments` are calibration token ids without BOS.
    public static func search(
        _ loaded: LoadedModel, segments: [[Int]], length: Int, candidates: [Int],
        progress: (Progress) -> Void = { _ in }, isCancelled: () -> Bool = { false }
    ) throws -> Result {
        guard length >= 1 else { throw EngineError.input("the prefix needs at least one searched token") }
        guard !candidates.isEmpty else { throw EngineError.input("no candidate tokens") }
        let V = loaded.config.vocabularySize
        for c in candidates where c < 0 || c >= V { throw EngineError.input("candidate token \(c) is outside the vocabulary (\(V))") }
        let total = 2 + length * candidates.count
        var done = 0
        func measure(_ prefix: [Int], _ stage: String) throws -> Double {
            if isCancelled() { throw Cancelled() }
            progress(Progress(done: done, total: total, stage: stage))
            let loss = try ActivationProbe.profile(loaded, prefix: prefix, segments: segments).crestLoss
            done += 1
            return loss
        }
        let baseline = try measure([], "no prefix")
        var prefix = [loaded.tokenizer.bosId]
        var steps = [Step(token: prefix[0], loss: try measure(prefix, "BOS"))]
        for position in 1...length {
            var best: (token: Int, loss: Double)?
            for c in candidates {
                let loss = try measure(prefix + [c], "token \(position)/\(length)")
                if best == nil || loss < best!.loss { best = (c, loss) }
            }
            guard let b = best, b.loss < steps.last!.loss else { break }
            prefix.append(b.token)
            steps.append(Step(token: b.token, loss: b.loss))
        }
        progress(Progress(done: total, total: total, stage: "done"))
        return Result(prefix: prefix, steps: steps, baselineLoss: baseline, candidates: candidates)
    }
}
