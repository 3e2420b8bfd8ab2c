import ArgumentParser
import Foundation
import Inference

/// Prefill and decode throughput as llama-bench measures it (pp: a batch of prompt
/// tokens from an empty context; tg: tokens generated one at a time from an empty
/// context), after one warm-up run, median of the repetitions.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure prefill and decode tokens/s.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "Prompt tokens for the prefill test.") var promptTokens = 512
    @Option(name: .long, help: "Tokens for the decode test.") var genTokens = 128
    @Option(name: .long, help: "Repetitions (the median is reported).") var repetitions = 3
    @Option(name: .long, help: "off or stat-topk:F.") var sparsity = "off"
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        if promptTokens < 1 || genTokens < 1 || repetitions < 1 { throw ValidationError("token counts and --repetitions must be >= 1") }
        if SparsityMode(argument: sparsity) == nil { throw ValidationError("--sparsity must be off or stat-topk:F") }
    }

    func run() throws {
        let loaded = try options.load()
        let m = loaded.model
        let mode = SparsityMode(argument: sparsity)!
        let ctx = min(loaded.config.contextLength, max(promptTokens, genTokens) + 8)
        // Ordinary-text-like ids: a fixed pseudo-random walk over the first 32k ids (no control tokens).
        var rng = SplitMix64(seed: 42)
        let prompt = [loaded.tokenizer.bosId] + (1..<promptTokens).map { _ in 1000 + Int(rng.next() % 30000) }
        func prefill() throws -> Double {
            let s = m.makeState(capacity: ctx)
            let t0 = Date()
            _ = try m.forward(prompt, state: s, logitRows: [prompt.count - 1], sparsity: mode, stats: nil)
            return Double(prompt.count) / Date().timeIntervalSince(t0)
        }
        func decode() throws -> Double {
            let s = m.makeState(capacity: ctx)
            var tok = loaded.tokenizer.bosId
            var stats: [TokenStats] = []
            let t0 = Date()
            for _ in 0..<genTokens {
                let l = try m.forward([tok], state: s, logitRows: [0], sparsity: mode, stats: &stats)
                tok = Sampler.argmax(l)
                if loaded.tokenizer.isStop(tok) { tok = 1000 }
            }
            return Double(genTokens) / Date().timeIntervalSince(t0)
        }
        _ = try prefill(); _ = try decode() // warm-up: page in the weights
        var pp: [Double] = [], tg: [Double] = []
        for _ in 0..<repetitions { pp.append(try prefill()); tg.append(try decode()) }
        let median = { (a: [Double]) -> Double in a.sorted()[a.count / 2] }
        let threads = ComputePool.shared.threads
        if json {
            emit(JSON.object([("prefill_tps", JSON.number(median(pp))), ("decode_tps", JSON.number(median(tg))),
                              ("threads", String(threads)), ("prompt_tokens", String(promptTokens)),
                              ("gen_tokens", String(genTokens))]))
        } else {
            emit("model: \(loaded.info.name) (\(loaded.info.quantization)), threads: \(threads), sparsity: \(mode)")
            emit(String(format: "prefill (pp%d): %8.1f tokens/s", promptTokens, median(pp)))
            emit(String(format: "decode  (tg%d): %8.1f tokens/s", genTokens, median(tg)))
        }
    }
}
