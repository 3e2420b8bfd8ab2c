import ArgumentParser
import Foundation
import Inference
import Serve

/// Prefill and decode throughput as llama-bench measures it (pp: a batch of prompt
/// tokens; tg: tokens generated one at a time; both from an empty context, or with
/// `--depth` tokens already in it, as `llama-bench -d`), after one warm-up run, median
/// of the repetitions.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure prefill and decode tokens/s.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "Prompt tokens for the prefill test.") var promptTokens = 512
    @Option(name: .long, help: "Tokens for the decode test.") var genTokens = 128
    @Option(name: .long, help: "Repetitions (the median is reported).") var repetitions = 3
    @Option(name: .long, help: "Tokens already in the context before each test, as llama-bench -d (default 0).") var depth = 0
    @Option(name: .long, help: OptionHelp.sparsity) var sparsity: SparsityMode = .off
    @Option(name: .long, help: OptionHelp.kvCache) var kvCache: KVCacheType = .f32
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Also measure chat decoding with this speculative drafter (e.g. slice, lookup, sparse:0.25).",
            valueName: "mode")) var speculative: SpeculativeMode?
    @Flag(name: .long, help: "Print where a decoded token's time goes (LM head, attention, FFN).") var profile = false
    @Flag(name: .long, help: "Also measure memory read bandwidth and the decode speed limit it sets.") var memory = false
    @Flag(name: .long, help: "Print one JSON object.") var json = false
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Instead of --model, a random-weight speed twin built in memory (repeatable): gemma2-2b, gemma2-2b-spark, gemma2-2b-spark-wide. Decode only, at depth 0 and --depth.",
            valueName: "name", visibility: .hidden)) var twin: [String] = []

    func validate() throws {
        if promptTokens < 1 || genTokens < 1 || repetitions < 1 { throw ValidationError("token counts and --repetitions must be >= 1") }
        if depth < 0 { throw ValidationError("--depth must be >= 0") }
        if let bad = twin.first(where: { !SpeedTwin.names.contains($0) }) {
            throw ValidationError("unknown --twin \(bad) (known: \(SpeedTwin.names.joined(separator: ", ")))")
        }
        if !twin.isEmpty && options.model != nil { throw ValidationError("--twin and --model are exclusive") }
        if !twin.isEmpty && kvCache != .f32 { throw ValidationError("--twin fills float32 caches only (--kv-cache f32)") }
        if !twin.isEmpty && depth + genTokens + 16 > 8192 { throw ValidationError("--depth plus --gen-tokens exceed the twins' context of 8192") }
    }

    func run() throws {
        if !twin.isEmpty {
            if let t = options.threads { ComputePool.shared.setThreads(t) }
            let depths = depth > 0 ? [0, depth] : [0]
            try TwinBench(names: twin, depths: depths, tokens: genTokens, repetitions: repetitions, json: json).run()
            return
        }
        let loadStart = Date()
        let loaded = try options.load(for: "bench")
        try loaded.useKVCache(kvCache)
        let loadSeconds = Date().timeIntervalSince(loadStart)  // mmap + metadata + tokenizer: no weight is read
        let m = loaded.model
        let mode = sparsity
        let needed = depth + max(promptTokens, genTokens) + 8
        guard needed <= loaded.config.contextLength else {
            throw ValidationError("--depth \(depth) plus the test's tokens exceed the model's context of \(loaded.config.contextLength)")
        }
        let ctx = needed
        // Ordinary-text-like ids: a fixed pseudo-random walk over the first 32k ids (no control tokens).
        var rng = SplitMix64(seed: 42)
        // (Small vocabularies, e.g. tiny test checkpoints: the walk stays inside the vocabulary.)
        let vocab = min(loaded.config.vocabularySize, loaded.tokenizer.vocabularySize)
        let lo = min(1000, vocab / 4), span = UInt64(max(1, min(30000, vocab - lo)))
        func walk(_ n: Int) -> [Int] { (0..<max(n, 0)).map { _ in lo + Int(rng.next() % span) } }
        // The context to start from: BOS and `depth - 1` tokens; then the test's tokens continue it.
        let depthTokens = depth > 0 ? [loaded.tokenizer.bosId] + walk(depth - 1) : []
        let prompt = depth > 0 ? walk(promptTokens) : [loaded.tokenizer.bosId] + walk(promptTokens - 1)
        // The state holding the depth tokens is filled once (timed: long-prompt prefill) and
        // rewound to `depth` before each test; a state that cannot rewind (recurrent) is refilled.
        var depthState: ModelState?
        var depthPrefillTPS: Double?
        func startState() throws -> ModelState {
            if depth == 0 { return m.makeState(capacity: ctx) }
            if let s = depthState, s.truncate(to: depth) { return s }
            let s = m.makeState(capacity: ctx)
            let t0 = Date()
            // In chunks, as the chat's prefill: one 16k-token call would hold a 16k x 16k score matrix.
            var at = 0
            while at < depthTokens.count {
                let chunk = Array(depthTokens[at..<min(at + 512, depthTokens.count)])
                _ = try m.forward(chunk, state: s, logitRows: [chunk.count - 1], sparsity: mode, stats: nil)
                at += chunk.count
            }
            if depthPrefillTPS == nil { depthPrefillTPS = Double(depth) / Date().timeIntervalSince(t0) }
            depthState = s
            return s
        }
        func prefill() throws -> Double {
            let s = try startState()
            let t0 = Date()
            _ = try m.forward(prompt, state: s, logitRows: [prompt.count - 1], sparsity: mode, stats: nil)
            return Double(prompt.count) / Date().timeIntervalSince(t0)
        }
        var kvBytes = 0
        func decode() throws -> Double {
            let s = try startState()
            defer { kvBytes = s.kvCacheByteCount }
            var tok = depth > 0 ? lo : loaded.tokenizer.bosId
            var stats: [TokenStats] = []
            let t0 = Date()
            for _ in 0..<genTokens {
                let l = try m.forward([tok], state: s, logitRows: [0], sparsity: mode, stats: &stats)
                tok = Sampler.argmax(l)
                if loaded.tokenizer.isStop(tok) { tok = lo }
            }
            return Double(genTokens) / Date().timeIntervalSince(t0)
        }
        _ = try prefill(); _ = try decode()  // warm-up: page in the weights
        var pp: [Double] = [], tg: [Double] = []
        for _ in 0..<repetitions { pp.append(try prefill()); tg.append(try decode()) }
        let median = { (a: [Double]) -> Double in a.sorted()[a.count / 2] }
        // Time to first token of a chat turn, as a user feels it: template, prefill, one token.
        let chatIds = loaded.tokenizer.encode(loaded.chatPrompt([ChatMessage(role: .user, text: ChatTurn.prompt)]), addBOS: true)
        var ttft: [Double] = []
        for _ in 0..<repetitions { ttft.append(try ChatTurn.timeToFirstToken(loaded, chatIds)) }
        var memoryFields: [(String, String)] = []
        var memoryLines: [String] = []
        if memory {
            let bw = ComputePool.shared.measureReadBandwidth()
            let bytes = m.decodeWeightBytes
            let limit = bytes > 0 ? bw / Double(bytes) : 0
            memoryFields = [
                ("bandwidth_gbs", JSONText.number(bw / 1e9)), ("decode_bytes_per_token", String(bytes)),
                ("decode_limit_tps", JSONText.number(limit))
            ]
            memoryLines = [
                String(
                    format: "memory read bandwidth: %.1f GB/s (%d threads); weights read per decoded token: %.1f MB",
                    bw / 1e9, ComputePool.shared.threads, Double(bytes) / 1e6),
                String(
                    format: "decode limit (bandwidth / bytes per token): %.1f tokens/s; measured decode is %.0f%% of it",
                    limit, limit > 0 ? 100 * median(tg) / limit : 0)
            ]
        }
        if profile {
            let p = DecodeProfile.shared
            func report(_ title: String, _ tokens: Int) {
                let total = p.seconds.values.reduce(0, +)
                emit(title)
                for k in p.order {
                    emit(String(format: "  %-20@ %8.3f ms  %5.1f%%", k as NSString, 1000 * p.seconds[k]! / Double(tokens), 100 * p.seconds[k]! / total))
                }
                emit(String(format: "  %-20@ %8.3f ms", "total" as NSString, 1000 * total / Double(tokens)))
            }
            p.reset(); p.enabled = true
            _ = try decode()
            p.enabled = false
            report("decode time per token, by section (\(genTokens) tokens):", genTokens)
            p.reset(); p.enabled = true
            _ = try prefill()
            p.enabled = false
            report("prefill time per prompt token, by section (\(promptTokens) tokens):", promptTokens)
        }
        let threads = ComputePool.shared.threads
        var spec: [(String, String)] = []
        if let mode = speculative {
            let r = try SpeculativeBench.run(loaded, mode: mode, tokens: genTokens, repetitions: repetitions)
            spec = [
                ("chat_decode_tps", JSONText.number(r.plainTPS)), ("speculative_decode_tps", JSONText.number(r.specTPS)),
                ("speculative", JSONText.string(mode.description)), ("acceptance", JSONText.number(r.acceptance)),
                ("tokens_per_pass", JSONText.number(r.tokensPerPass)), ("identical_output", r.identical ? "true" : "false")
            ]
            if !json {
                emit(String(format: "chat decode, plain:       %8.1f tokens/s", r.plainTPS))
                emit(
                    String(
                        format: "chat decode, speculative: %8.1f tokens/s (%@; %.0f%% of drafts accepted, %.2f tokens per target pass, output %@)",
                        r.specTPS, mode.description, 100 * r.acceptance, r.tokensPerPass, r.identical ? "identical" : "DIFFERENT"))
                emit(String(format: "speculative speed-up:     %8.2fx", r.specTPS / max(r.plainTPS, 1e-9)))
            }
        }
        if json {
            emit(
                JSONText.object(
                    [
                        ("prefill_tps", JSONText.number(median(pp))), ("decode_tps", JSONText.number(median(tg))),
                        ("threads", String(threads)), ("prompt_tokens", String(promptTokens)),
                        ("gen_tokens", String(genTokens)), ("depth", String(depth)),
                        ("kernels", JSONText.string(KernelLevel.name)),
                        ("sgemm_min_rows", String(loaded.model.options.sgemmMinimumRows)),
                        ("depth_prefill_tps", depthPrefillTPS.map { JSONText.number($0) } ?? "null"),
                        ("ttft_ms", JSONText.number(1000 * median(ttft))),
                        ("load_ms", JSONText.number(1000 * loadSeconds)),
                        ("chat_prompt_tokens", String(chatIds.count)),
                        ("kv_cache", JSONText.string(kvCache.rawValue)), ("kv_bytes", String(kvBytes))
                    ] + memoryFields + spec))
        } else {
            emit("model: \(loaded.info.name) (\(loaded.info.quantization)), threads: \(threads), sparsity: \(mode), kv cache: \(kvCache)")
            emit("kernels: \(KernelLevel.name), sgemm from \(loaded.model.options.sgemmMinimumRows) rows")
            emit(String(format: "model load (mmap, tokenizer): %.1f ms", 1000 * loadSeconds))
            let at = depth > 0 ? " @ d\(depth)" : ""
            if let d = depthPrefillTPS { emit(String(format: "context fill (%d tokens): %8.1f tokens/s", depth, d)) }
            emit(String(format: "prefill (pp%d%@): %8.1f tokens/s", promptTokens, at as NSString, median(pp)))
            emit(String(format: "decode  (tg%d%@): %8.1f tokens/s", genTokens, at as NSString, median(tg)))
            emit(String(format: "kv cache after decode (%@): %.2f MB", kvCache.rawValue, Double(kvBytes) / 1e6))
            emit(String(format: "time to first token (chat turn, %d prompt tokens): %.1f ms", chatIds.count, 1000 * median(ttft)))
            for line in memoryLines { emit(line) }
        }
    }
}

/// One short chat turn: the time from submitting it to its first generated token.
enum ChatTurn {
    static let prompt = "Write a haiku about the sea."

    static func timeToFirstToken(_ m: LoadedModel, _ ids: [Int]) throws -> Double {
        var p = SamplingParameters.greedy
        p.maxTokens = 1
        let t0 = Date()
        var first: Double?
        try Generator(model: m).generate(tokens: ids, parameters: p) { e in
            if case .token = e, first == nil { first = Date().timeIntervalSince(t0) }
        }
        return first ?? Date().timeIntervalSince(t0)
    }
}

/// Greedy chat decoding with and without a drafter on the same prompts, in one run.
enum SpeculativeBench {
    static let prompts = [
        "Explain how a refrigerator keeps food cold, in a few short paragraphs.",
        "Write a Python function that checks whether a string is a palindrome, and explain it.",
        "What are three tips for staying focused while studying?"
    ]

    struct Result { var plainTPS: Double; var specTPS: Double; var acceptance: Double; var tokensPerPass: Double; var identical: Bool }

    static func run(_ m: LoadedModel, mode: SpeculativeMode, tokens: Int, repetitions: Int) throws -> Result {
        var p = SamplingParameters.greedy
        p.maxTokens = tokens
        var plainT = 0.0, specT = 0.0, plainN = 0, specN = 0, proposed = 0, accepted = 0, passes = 0
        var identical = true
        for prompt in prompts {
            let ids = m.tokenizer.encode(m.chatPrompt([ChatMessage(role: .user, text: prompt)]), addBOS: true)
            for _ in 0..<max(1, repetitions / 2) {
                let a = try decode(m, ids, p, .off)
                let b = try decode(m, ids, p, mode)
                plainT += a.summary.decodeSeconds; plainN += a.summary.generatedTokens
                specT += b.summary.decodeSeconds; specN += b.summary.generatedTokens
                proposed += b.summary.speculativeProposed; accepted += b.summary.speculativeAccepted
                passes += b.summary.targetPasses
                identical = identical && a.ids == b.ids
            }
        }
        return Result(
            plainTPS: Double(plainN) / max(plainT, 1e-9), specTPS: Double(specN) / max(specT, 1e-9),
            acceptance: proposed > 0 ? Double(accepted) / Double(proposed) : 0,
            tokensPerPass: passes > 0 ? Double(specN) / Double(passes) : 1, identical: identical)
    }

    static func decode(_ m: LoadedModel, _ ids: [Int], _ p: SamplingParameters, _ mode: SpeculativeMode) throws -> (ids: [Int], summary: GenerationSummary) {
        let g = Generator(model: m)
        g.speculative = mode
        var out: [Int] = []
        var summary = GenerationSummary()
        try g.generate(tokens: ids, parameters: p) { e in
            switch e {
            case .token(let t): if t.id >= 0 { out.append(t.id) }
            case .done(let s): summary = s
            }
        }
        return (out, summary)
    }
}
