/// Every history-dependent logit adjustment, computed once for one position and then
/// applied to the full vocabulary (the sampler) or to a slice of it (the slice
/// drafter), so drafting, verification and plain decoding penalize identically.
///
/// Order, as in llama.cpp's default chain: the multiplicative repetition penalty
/// (CTRL: divide a positive logit, multiply a negative one), then the OpenAI presence
/// and frequency penalties (logit −= presence·[count > 0] + frequency·count), both over
/// the last `repetitionWindow` tokens; then DRY over the last `dryWindow` tokens.
/// Only tokens that occur in the history are touched, never the whole vocabulary.
public struct LogitPenalties: Sendable {
    /// Occurrences in the repetition window (empty when those three penalties are off).
    let counts: [Int: Int]
    /// DRY logit penalty per token that would extend a repeat.
    let dry: [Int: Float]
    let repetition: Float
    let presence: Float
    let frequency: Float

    public init(parameters p: SamplingParameters, history: [Int], sequenceBreakers: Set<Int>) {
        repetition = Float(p.repetitionPenalty)
        presence = Float(p.presencePenalty)
        frequency = Float(p.frequencyPenalty)
        var counts: [Int: Int] = [:]
        if p.repetitionPenalty != 1 || p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for id in history.suffix(max(p.repetitionWindow, 0)) { counts[id, default: 0] += 1 }
        }
        self.counts = counts
        var dry: [Int: Float] = [:]
        if p.dryMultiplier > 0 && p.dryWindow > 1 {
            let lengths = DRYPenalty.repeatLengths(
                history: history.suffix(p.dryWindow), allowedLength: p.dryAllowedLength,
                breakers: sequenceBreakers)
            for (id, n) in lengths {
                dry[id] = DRYPenalty.penalty(length: n, multiplier: p.dryMultiplier, base: p.dryBase, allowedLength: p.dryAllowedLength)
            }
        }
        self.dry = dry
    }

    public var isEmpty: Bool { counts.isEmpty && dry.isEmpty }

    /// `logit` of token `id` after every penalty.
    public func adjust(_ logit: Float, id: Int) -> Float {
        var x = logit
        if let c = counts[id] {
            if repetition != 1 { x = x > 0 ? x / repetition : x * repetition }
            x -= presence + frequency * Float(c)
        }
        if let d = dry[id] { x -= d }
        return x
    }

    /// Penalizes full-vocabulary logits (index = token id).
    public func apply(to logits: inout [Float]) {
        for id in Set(counts.keys).union(dry.keys) where id >= 0 && id < logits.count {
            logits[id] = adjust(logits[id], id: id)
        }
    }

    /// Penalizes slice logits: `logits[i]` belongs to token `ids[i]`, and `ids` is sorted
    /// ascending (as `Generator.makeVocabularySlice` returns it). Tokens outside the
    /// slice are skipped.
    func apply(to logits: inout [Float], ids: [Int32]) {
        for id in Set(counts.keys).union(dry.keys) {
            var lo = 0, hi = ids.count
            while lo < hi { let mid = (lo + hi) / 2; if Int(ids[mid]) < id { lo = mid + 1 } else { hi = mid } }
            if lo < ids.count && Int(ids[lo]) == id && lo < logits.count { logits[lo] = adjust(logits[lo], id: id) }
        }
    }
}
