import Foundation

/// "Don't Repeat Yourself" (DRY) repetition penalty, as in text-generation-webui and
/// llama.cpp's `llama_sampler_dry`: a token that would extend a verbatim repeat of
/// length n >= allowedLength (the last n tokens, followed by that token, already occur
/// earlier in the history) loses `multiplier · base^(n − allowedLength)` from its logit.
/// Unlike a per-token penalty it leaves common words alone and grows with the length
/// of the loop, so it breaks "You are here! You are here! …" without muting " You".
///
/// Sequence breakers (tokens whose text contains a newline, ':', '"' or '*', and control
/// tokens such as `<end_of_turn>`) end a match: a repeat never spans one, and a breaker
/// candidate is never penalized, so ending a line or a turn always stays possible.
public enum DRYPenalty {
    /// For each token that would extend a repeat of length n >= allowedLength, the
    /// largest such n over all earlier occurrences. Only those tokens get a penalty.
    ///
    /// Linear in the history: the Z-array of the reversed history gives, for every
    /// earlier position i, the length of the common suffix of history[...i] and the whole
    /// history; history[i + 1] is then a token that would extend that repeat.
    static func repeatLengths(history: ArraySlice<Int>, allowedLength: Int, breakers: Set<Int>) -> [Int: Int] {
        let h = Array(history)
        let n = h.count
        guard n >= 2 else { return [:] }
        // A repeat of the history's tail can only reach back to the last breaker.
        var limit = 0
        while limit < n && !breakers.contains(h[n - 1 - limit]) { limit += 1 }
        guard limit >= max(allowedLength, 1) else { return [:] }

        // z[k]: longest common prefix of r and r[k...], where r is h reversed; r[i] = h[n-1-i].
        var z = [Int](repeating: 0, count: n)
        var left = 0, right = 0  // [left, right) is the rightmost window known to match r's prefix
        for k in 1..<n {
            var len = 0
            if k < right { len = min(right - k, z[k - left]) }
            while k + len < n && h[n - 1 - len] == h[n - 1 - k - len] { len += 1 }
            z[k] = len
            if k + len > right { left = k; right = k + len }
        }

        var lengths: [Int: Int] = [:]
        for k in 1..<n {
            let length = min(z[k], limit)
            guard length >= allowedLength, length > 0 else { continue }
            // The repeat ends at h[n-1-k]; the token that followed it there is h[n-k].
            let next = h[n - k]
            if breakers.contains(next) { continue }
            if length > lengths[next] ?? 0 { lengths[next] = length }
        }
        return lengths
    }

    /// The logit penalty for a repeat of `length` tokens, capped so it stays finite.
    static func penalty(length: Int, multiplier: Double, base: Double, allowedLength: Int) -> Float {
        let p = multiplier * pow(base, Double(length - allowedLength))
        return Float(min(p, 1e30))
    }

    /// Ids of the tokens that end a DRY match: any whose text contains one of
    /// `breakers`, plus control tokens (they have no text: BOS, turn markers, EOS).
    /// Computed once per tokenizer; the whole vocabulary is scanned.
    public static func sequenceBreakerIds(tokenizer: TextTokenizer, breakers: [String]) -> Set<Int> {
        let needles = breakers.map { Array($0.utf8) }.filter { !$0.isEmpty }
        var ids = Set<Int>()
        for id in 0..<tokenizer.vocabularySize {
            let bytes = tokenizer.pieceBytes(id)
            if bytes.isEmpty || needles.contains(where: { contains(bytes, $0) }) { ids.insert(id) }
        }
        if tokenizer.eosId >= 0 { ids.insert(tokenizer.eosId) }
        if let e = tokenizer.endOfTurnId { ids.insert(e) }
        return ids
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}

/// The sequence-breaker ids of one tokenizer, cached per breaker list: the scan of a
/// 262k vocabulary is done once per model, not once per reply.
struct SequenceBreakerCache {
    let tokenizer: TextTokenizer
    private var cached: (breakers: [String], ids: Set<Int>)?

    init(tokenizer: TextTokenizer) { self.tokenizer = tokenizer }

    mutating func ids(for parameters: SamplingParameters) -> Set<Int> {
        guard parameters.dryMultiplier > 0 else { return [] }
        if let c = cached, c.breakers == parameters.drySequenceBreakers { return c.ids }
        let ids = DRYPenalty.sequenceBreakerIds(tokenizer: tokenizer, breakers: parameters.drySequenceBreakers)
        cached = (parameters.drySequenceBreakers, ids)
        return ids
    }
}
