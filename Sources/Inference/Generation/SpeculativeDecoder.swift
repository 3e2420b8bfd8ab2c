import Foundation

/// How drafts are proposed for lossless speculative decoding.
public enum SpeculativeMode: Sendable, Equatable, CustomStringConvertible {
    case off
    /// Self-speculation over a slice of the vocabulary: the draft runs the model's own
    /// layers (whose KV entries are exactly the target's) and reads only `vocabulary`
    /// rows of the LM head; verification reads the full head once for all drafts.
    case slice(vocabulary: Int, draft: Int)
    /// Prompt lookup: continue the longest earlier match of the last n-gram.
    case lookup(ngram: Int, draft: Int)
    /// The same model with statistical top-k FFN sparsity as the drafter.
    case sparse(fraction: Double, draft: Int)
    /// Another model with the same tokenizer.
    case model(path: String, draft: Int)

    /// `off`, `slice[:V]`, `lookup[:N]`, `sparse:F`, `model:PATH` (each may end in `@γ`, the draft length).
    public init?(argument: String) {
        var arg = Substring(argument)
        var draft = 4
        if let at = arg.lastIndex(of: "@") {
            guard let g = Int(arg[arg.index(after: at)...]), g >= 1, g <= 16 else { return nil }
            draft = g; arg = arg[..<at]
        }
        let parts = arg.split(separator: ":", maxSplits: 1).map(String.init)
        switch parts.first ?? "" {
        case "off", "none": self = .off
        case "slice", "self":
            let v = parts.count > 1 ? Int(parts[1]) : 16384
            guard let v, v >= 16 else { return nil }
            self = .slice(vocabulary: v, draft: draft)
        case "lookup":
            let n = parts.count > 1 ? Int(parts[1]) : 3
            guard let n, n >= 1, n <= 16 else { return nil }
            self = .lookup(ngram: n, draft: draft)
        case "sparse":
            guard parts.count > 1, let f = Double(parts[1]), f > 0, f <= 1 else { return nil }
            self = .sparse(fraction: f, draft: draft)
        case "model":
            guard parts.count > 1, !parts[1].isEmpty else { return nil }
            self = .model(path: parts[1], draft: draft)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .off: return "off"
        case .slice(let v, let d): return "slice:\(v)@\(d)"
        case .lookup(let n, let d): return "lookup:\(n)@\(d)"
        case .sparse(let f, let d): return "sparse:\(f)@\(d)"
        case .model(let p, let d): return "model:\(p)@\(d)"
        }
    }

    var draftLength: Int {
        switch self {
        case .off: return 0
        case .slice(_, let d), .lookup(_, let d), .sparse(_, let d), .model(_, let d): return d
        }
    }
}

/// Speculative sampling with the modified rejection scheme (Leviathan et al. 2023;
/// Chen et al. 2023): a drafter proposes tokens d₁…d_γ with distributions q; the
/// target scores all of them in one pass giving p; dᵢ is accepted with probability
/// min(1, p(dᵢ)/q(dᵢ)); at the first rejection a token is drawn from norm(max(0, p − q));
/// if all are accepted a bonus token is drawn from the last p. The output
/// distribution is exactly the target's. With temperature 0 both distributions are
/// point masses, so the output is the target's greedy sequence.
extension Generator {
    struct Draft {
        var tokens: [Int] = []
        /// Draft distributions (id → probability) per token; point masses when nil.
        var distributions: [[Int: Double]]? = nil
        /// Hidden states of [pending, d₁…d_γ] when the drafter ran the target's own layers.
        var hidden: [Float]? = nil
    }

    func speculativeDecode(
        first: Int, state: ModelState, sampler: inout Sampler, emitter: inout TokenEmitter,
        capacity: Int
    ) throws {
        var pending = first
        var gamma = speculative.draftLength
        let greedy = sampler.parameters.temperature <= 0
        let V = model.config.vocabularySize
        let slice = makeVocabularySlice()
        while true {
            let room = capacity - cachedTokens.count - 2
            if room < 1 { emitter.stopReason = .contextFull; return }
            let g = min(gamma, room)
            var draft = try propose(pending: pending, gamma: g, state: state, sampler: &sampler, recent: emitter.recent, slice: slice)
            let k = draft.tokens.count
            let base = cachedTokens.count
            // Target distributions p₀…p_k at [pending, d₁…d_k].
            var stats: [TokenStats] = []
            let logits: [Float]
            if let h = draft.hidden, let hm = model.model as? HiddenStateModel {
                logits = hm.logits(hidden: h, count: k + 1, vocabulary: nil)
            } else {
                logits = try model.model.forward(
                    [pending] + draft.tokens, state: state, logitRows: Array(0...k),
                    sparsity: sparsity, stats: &stats)
            }
            speculativeStats.passes += 1
            speculativeStats.proposed += k
            cachedTokens.append(pending)
            cachedTokens += draft.tokens
            var accepted = 0
            var next: Int? = nil
            var recent = emitter.recent
            for i in 0...k {
                let row = Array(logits[(i * V)..<((i + 1) * V)])
                if i < k {
                    let d = draft.tokens[i]
                    if greedy {
                        let t = sampler.sample(row, recent: recent)
                        if t == d { accepted += 1; recent.append(d); continue }
                        next = t
                    } else {
                        let p = sampler.distribution(row, recent: recent)
                        let pd = p.first { $0.id == d }?.p ?? 0
                        let qd = draft.distributions?[i][d] ?? 1
                        if sampler.uniform() < min(1, pd / qd) { accepted += 1; recent.append(d); continue }
                        next = Generator.residualSample(p: p, q: draft.distributions?[i] ?? [d: 1], sampler: &sampler)
                    }
                } else {
                    next = sampler.sample(row, recent: recent)
                }
                break
            }
            speculativeStats.accepted += accepted
            // Keep the target's state for [pending, d₁…d_accepted]; drop the rest.
            let keep = base + 1 + accepted
            if state.length > keep {
                guard state.truncate(to: keep) else { throw EngineError.unsupported("this model cannot rewind its state for speculative decoding") }
            }
            cachedTokens.removeLast(cachedTokens.count - keep)
            if let s = stats.first { emitter.lastStats = s }
            for i in 0..<accepted {
                if i < stats.count { emitter.lastStats = stats[i + 1 < stats.count ? i + 1 : i] }
                let row = Array(logits[(i * V)..<((i + 1) * V)])
                if !emitter.emit(draft.tokens[i], logprob: Sampler.logprob(row, draft.tokens[i])) { return }
            }
            let id = next!
            let row = Array(logits[(accepted * V)..<((accepted + 1) * V)])
            if !emitter.emit(id, logprob: Sampler.logprob(row, id)) { return }
            pending = id
            // Adapt the draft length to how well drafts are doing.
            if accepted == k && k == gamma { gamma = min(gamma + 1, 12) } else if accepted < k / 2 { gamma = max(2, gamma - 1) }
            draft = Draft()
        }
    }

    /// Draws from norm(max(0, p − q)); falls back to p when the residual is empty.
    static func residualSample(p: [(id: Int, p: Double)], q: [Int: Double], sampler: inout Sampler) -> Int {
        var residual = p.map { (id: $0.id, p: max(0, $0.p - (q[$0.id] ?? 0))) }
        let total = residual.reduce(0) { $0 + $1.p }
        if total <= 0 { residual = p } else { residual = residual.map { ($0.id, $0.p / total) } }
        return sampler.draw(residual.filter { $0.p > 0 })
    }

    private func propose(
        pending: Int, gamma: Int, state: ModelState, sampler: inout Sampler, recent: [Int],
        slice: [Int32]?
    ) throws -> Draft {
        let greedy = sampler.parameters.temperature <= 0
        switch speculative {
        case .off: return Draft()
        case .lookup(let n, _):
            return Draft(tokens: PromptLookup.propose(context: cachedTokens + [pending], ngram: n, count: gamma))
        case .slice:
            guard let hm = model.model as? HiddenStateModel, let slice else { return Draft() }
            var draft = Draft(tokens: [], distributions: greedy ? nil : [], hidden: [])
            var tok = pending
            var rec = recent
            for i in 0...gamma {
                let h = try hm.forwardHidden([tok], state: state, rows: [0], sparsity: .off, stats: nil)
                draft.hidden! += h
                if i == gamma { break }
                var l = hm.logits(hidden: h, count: 1, vocabulary: slice)
                // Draft over the slice with the sampler's own penalties: pick/sample among the slice's ids.
                sampler.penalties(recent: rec).apply(to: &l, ids: slice)
                let d: Int
                if greedy {
                    d = Int(slice[Sampler.argmax(l)])
                } else {
                    let dist = sampler.distribution(penalized: l)
                    let mapped = dist.map { (id: Int(slice[$0.id]), p: $0.p) }
                    d = sampler.draw(mapped)
                    draft.distributions!.append(Dictionary(uniqueKeysWithValues: mapped.map { ($0.id, $0.p) }))
                }
                draft.tokens.append(d)
                rec.append(d)
                tok = d
            }
            return draft
        case .sparse(let f, _):
            if draftModel?.path != speculative.description { draftModel = (speculative.description, model, nil, []) }
            return try proposeWithDraftModel(
                sparsity: .statTopK(fraction: f), pending: pending, gamma: gamma,
                sampler: &sampler, recent: recent)
        case .model(let path, _):
            if draftModel?.path != speculative.description {
                draftModel = (speculative.description, try LoadedModel.load(path: try ModelCatalog.resolve(path)), nil, [])
            }
            return try proposeWithDraftModel(
                sparsity: .off, pending: pending, gamma: gamma,
                sampler: &sampler, recent: recent)
        }
    }

    /// A separate drafter with its own state, kept in sync with the accepted tokens
    /// (its state is rewound to the longest common prefix each cycle).
    private func proposeWithDraftModel(
        sparsity: SparsityMode, pending: Int, gamma: Int,
        sampler: inout Sampler, recent: [Int]
    ) throws -> Draft {
        let dm = draftModel!.model
        guard dm.config.vocabularySize == model.config.vocabularySize else {
            throw EngineError.unsupported("draft model vocabulary (\(dm.config.vocabularySize)) differs from the target's (\(model.config.vocabularySize))")
        }
        let context = cachedTokens + [pending]
        var ds = draftModel!.state ?? dm.model.makeState(capacity: dm.config.contextLength)
        let old = draftModel!.tokens
        var common = 0
        while common < min(old.count, context.count - 1) && old[common] == context[common] { common += 1 }
        if !ds.truncate(to: common) { ds = dm.model.makeState(capacity: dm.config.contextLength); common = 0 }
        var dTokens = context
        var logits = try dm.model.forward(
            Array(context[common...]), state: ds, logitRows: [context.count - common - 1],
            sparsity: sparsity, stats: nil)
        var draft = Draft(tokens: [], distributions: sampler.parameters.temperature <= 0 ? nil : [], hidden: nil)
        var rec = recent
        for i in 0..<gamma {
            let d: Int
            if sampler.parameters.temperature <= 0 {
                d = sampler.sample(logits, recent: rec)
            } else {
                let dist = sampler.distribution(logits, recent: rec)
                d = sampler.draw(dist)
                draft.distributions!.append(Dictionary(uniqueKeysWithValues: dist.map { ($0.id, $0.p) }))
            }
            draft.tokens.append(d)
            rec.append(d)
            if i == gamma - 1 || model.tokenizer.isStop(d) { break }
            logits = try dm.model.forward([d], state: ds, logitRows: [0], sparsity: sparsity, stats: nil)
            dTokens.append(d)
        }
        draftModel!.state = ds
        draftModel!.tokens = dTokens
        return draft
    }

    /// Uses `drafter` for `.model` speculation instead of loading `path` (tests, and the
    /// app when the draft model is already loaded).
    public func setDraftModel(_ drafter: LoadedModel, for mode: SpeculativeMode) {
        draftModel = (mode.description, drafter, nil, [])
    }

    /// The ids a slice draft may pick: the highest-scored pieces of the vocabulary
    /// (SentencePiece BPE scores follow merge order, a proxy for frequency), the
    /// tokens of the conversation so far, and the stop tokens.
    func makeVocabularySlice() -> [Int32]? {
        guard case .slice(let size, _) = speculative else { return nil }
        let V = model.config.vocabularySize
        var chosen = Set<Int>()
        if let sp = model.tokenizer as? SentencePieceTokenizer, sp.scores.count == sp.pieces.count {
            let normal = (0..<min(V, sp.pieces.count)).filter { sp.types.count <= $0 || sp.types[$0] == .normal }
            let ranked = normal.sorted { sp.scores[$0] > sp.scores[$1] }
            chosen.formUnion(ranked.prefix(size))
        } else {
            chosen.formUnion(0..<min(size, V))
        }
        chosen.formUnion(cachedTokens.filter { $0 >= 0 && $0 < V })
        chosen.insert(model.tokenizer.eosId)
        if let e = model.tokenizer.endOfTurnId { chosen.insert(e) }
        // Whitespace-run and newline tokens are user-defined, not "normal": keep the short ones.
        for id in 107...140 where id < V { chosen.insert(id) }
        return chosen.sorted().map { Int32($0) }
    }
}

/// Prompt lookup decoding: find the most recent earlier occurrence of the last
/// `ngram` tokens (backing off to shorter n-grams) and propose what followed it.
enum PromptLookup {
    static func propose(context: [Int], ngram: Int, count: Int) -> [Int] {
        guard context.count > 1 else { return [] }
        for n in stride(from: min(ngram, context.count - 1), through: 1, by: -1) {
            let tail = Array(context.suffix(n))
            var i = context.count - n - 1
            while i >= 0 {
                if Array(context[i..<(i + n)]) == tail {
                    let start = i + n
                    let end = min(context.count, start + count)
                    if start < end { return Array(context[start..<end]) }
                }
                i -= 1
            }
        }
        return []
    }
}
