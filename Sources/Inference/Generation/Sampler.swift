import CKernels
import Foundation

/// Picks the next token from logits: repetition penalties (LogitPenalties), temperature,
/// top-k, top-p, min-p, then a draw from a seeded generator. Temperature 0 is argmax.
public struct Sampler: Sendable {
    public var parameters: SamplingParameters
    /// Token ids that end a DRY match (see `DRYPenalty.sequenceBreakerIds`); only DRY reads them.
    public let sequenceBreakers: Set<Int>
    private var rng: SplitMix64

    public init(_ parameters: SamplingParameters, sequenceBreakers: Set<Int> = []) {
        self.parameters = parameters
        self.sequenceBreakers = sequenceBreakers
        self.rng = SplitMix64(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// The penalties for the position after `recent` (prompt and reply tokens, oldest
    /// first; each penalty reads its own window of it, so a longer `recent` is fine).
    public func penalties(recent: [Int]) -> LogitPenalties {
        LogitPenalties(parameters: parameters, history: recent, sequenceBreakers: sequenceBreakers)
    }

    /// `logits` after the repetition penalties.
    public func penalized(_ logits: [Float], recent: [Int]) -> [Float] {
        var l = logits
        let pen = penalties(recent: recent)
        if !pen.isEmpty { pen.apply(to: &l) }
        return l
    }

    /// Probabilities after every filter, as (id, p) sorted by descending p; the
    /// distribution the draw is made from. Exposed for tests and speculative decoding.
    public func distribution(_ logits: [Float], recent: [Int] = []) -> [(id: Int, p: Double)] {
        distribution(penalized: penalized(logits, recent: recent))
    }

    /// The distribution of logits the penalties were already applied to (ids are indices of `l`).
    public func distribution(penalized l: [Float]) -> [(id: Int, p: Double)] {
        let t = max(parameters.temperature, 1e-6)
        var idx = Array(0..<l.count)
        if parameters.topK > 0 && parameters.topK < l.count {
            idx = Sampler.topIndices(l, k: parameters.topK)
        } else {
            idx.sort { l[$0] > l[$1] }
        }
        let maxL = Double(l[idx[0]])
        var probs = idx.map { exp((Double(l[$0]) - maxL) / t) }
        var sum = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= sum }
        var keep = probs.count
        if parameters.topP < 1 {
            var c = 0.0
            for i in probs.indices { c += probs[i]; if c >= parameters.topP { keep = i + 1; break } }
        }
        if parameters.minP > 0 {
            let floor = parameters.minP * probs[0]
            keep = min(keep, probs.prefix(keep).firstIndex { $0 < floor } ?? keep)
        }
        keep = max(keep, 1)
        sum = probs.prefix(keep).reduce(0, +)
        return (0..<keep).map { (idx[$0], probs[$0] / sum) }
    }

    public mutating func sample(_ logits: [Float], recent: [Int] = []) -> Int {
        if parameters.temperature <= 0 { return Sampler.argmax(penalized(logits, recent: recent)) }
        let d = distribution(logits, recent: recent)
        return draw(d)
    }

    /// Draws from a (id, p) distribution summing to 1.
    public mutating func draw(_ d: [(id: Int, p: Double)]) -> Int {
        let u = uniform()
        var c = 0.0
        for (id, p) in d { c += p; if u < c { return id } }
        return d.last!.id
    }

    public mutating func uniform() -> Double { Double(rng.next() >> 11) * (1.0 / 9007199254740992.0) }

    public static func argmax(_ l: [Float]) -> Int {
        var best = 0
        var bv = -Float.infinity
        for i in l.indices where l[i] > bv { bv = l[i]; best = i }
        return best
    }

    /// Indices of the k largest values, sorted descending (partial selection via a min-heap).
    static func topIndices(_ l: [Float], k: Int) -> [Int] {
        var heap: [Int] = []  // min-heap on l
        heap.reserveCapacity(k)
        func less(_ a: Int, _ b: Int) -> Bool { l[a] < l[b] }
        for i in l.indices {
            if heap.count < k {
                heap.append(i)
                var c = heap.count - 1
                while c > 0 { let p = (c - 1) / 2; if less(heap[c], heap[p]) { heap.swapAt(c, p); c = p } else { break } }
            } else if l[i] > l[heap[0]] {
                heap[0] = i
                var p = 0
                while true {
                    let a = 2 * p + 1, b = a + 1
                    var m = p
                    if a < k && less(heap[a], heap[m]) { m = a }
                    if b < k && less(heap[b], heap[m]) { m = b }
                    if m == p { break }
                    heap.swapAt(p, m); p = m
                }
            }
        }
        return heap.sorted { l[$0] > l[$1] }
    }

    /// log softmax of one logit.
    public static func logprob(_ l: [Float], _ id: Int) -> Float {
        l[id] - l.withUnsafeBufferPointer { ck_log_sum_exp($0.baseAddress!, Int64($0.count)) }
    }
}

/// Small, fast, seedable PRNG (so `--seed` reproduces a run exactly).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
