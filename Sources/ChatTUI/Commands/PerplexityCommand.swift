import ArgumentParser
import Foundation
import Inference
import Serve

/// Perplexity computed the way llama.cpp's `llama-perplexity` does, so the figures
/// compare: the text (tokenized with BOS) is cut into chunks of `ctx` tokens, the
/// first token of each chunk is replaced by BOS, and only the second half of each
/// chunk is scored (each token predicted from at least ctx/2 tokens of context).
/// By default every product runs with int8-quantized activations, as decode does and
/// as llama.cpp computes: measured on the committed 1601-token text at ctx 512 that
/// gives 9.11-9.24 (it moves with any change of rounding) against llama-perplexity's
/// 9.216 on the same GGUF, while float32 arithmetic gives 8.955, the Hugging Face
/// reference's figure (2.8% below llama.cpp). `--activations per-tensor-int8` simulates
/// static per-tensor int8 activations (scales calibrated once, see StaticInt8Quantizer), with
/// a CushionCache prefix (`--cushion`, from `sparkchat cushion`) in the cache when given.
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "perplexity", abstract: "Perplexity of a text file, as llama.cpp computes it.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "UTF-8 text file.") var file: String
    @Option(name: .long, help: "Chunk length in tokens.") var ctx = 512
    @Option(name: .long, help: "Score at most this many chunks (0 = all).") var chunks = 0
    @Option(name: .long, help: OptionHelp.sparsity) var sparsity: SparsityMode = .off
    @Option(name: .long, help: OptionHelp.kvCache) var kvCache: KVCacheType = .f32
    @Flag(name: .long, help: "Float32 arithmetic (dequantized weights), as the Hugging Face reference computes, instead of decode's int8 activations.")
    var float32 = false
    @Option(
        name: .long,
        help: "Activations of the products: \(ActivationMode.allCases.map(\.rawValue).joined(separator: ", ")) (default per-block-int8, as decode).")
    var activations: ActivationMode?
    @Option(name: .long, help: "A cushion file (sparkchat cushion): its prefix is in the cache before each chunk, not scored.")
    var cushion: String?
    @Option(name: .long, help: "Calibration text of per-tensor-int8's scales (default: calibration/kjv-sparkify.txt).")
    var calibration: String?
    @Option(name: .long, help: "Calibration tokens of per-tensor-int8's scales.") var calibrationTokens = 512
    @Flag(name: .long, help: "Print a JSON object instead of text.") var json = false

    /// What `--activations` names; `--float32` is the same as `--activations float32`.
    enum ActivationMode: String, CaseIterable, ExpressibleByArgument {
        case float32, perBlockInt8 = "per-block-int8", perTensorInt8 = "per-tensor-int8"
    }

    var mode: ActivationMode { float32 ? .float32 : (activations ?? .perBlockInt8) }

    func validate() throws {
        if ctx < 8 { throw ValidationError("--ctx must be >= 8") }
        if float32, let a = activations, a != .float32 { throw ValidationError("--float32 contradicts --activations \(a.rawValue)") }
        if calibrationTokens < 16 || calibrationTokens > 65536 { throw ValidationError("--calibration-tokens must be between 16 and 65536") }
        if sparsity != .off && mode == .perTensorInt8 { throw ValidationError("--sparsity cannot be combined with --activations per-tensor-int8") }
        if calibration != nil && mode != .perTensorInt8 { throw ValidationError("--calibration needs --activations per-tensor-int8") }
    }

    func run() throws {
        let text = try ArgumentCheck.readUTF8File(file)
        let loaded = try options.load(for: "perplexity")
        try loaded.useKVCache(kvCache)
        let prefix = try cushion.map { try CushionFile.read($0, vocabularySize: loaded.config.vocabularySize, bos: loaded.tokenizer.bosId).prefixIds } ?? []
        var profile: ActivationProfile?
        if mode == .perTensorInt8 {
            // The scales are calibrated once, with the cushion in the cache when there is one.
            let calibrationText = try SparkifyCalibration.readText(try calibration ?? SparkifyRequest.defaultCalibration())
            let segments = try CushionSearch.segments(calibrationText, tokenizer: loaded.tokenizer, tokens: calibrationTokens)
            profile = try ActivationProbe.profile(loaded, prefix: prefix, segments: segments)
        }
        let arithmetic: Perplexity.Arithmetic = [.float32: .float32, .perBlockInt8: .quantized, .perTensorInt8: .perTensorInt8][mode]!
        let result = try Perplexity.compute(
            model: loaded, text: text, ctx: ctx, maxChunks: chunks,
            sparsity: sparsity, arithmetic: arithmetic, cushion: prefix, calibration: profile
        ) { i, n, ppl in
            if !json { FileHandle.standardError.write("[\(i)/\(n)] \(String(format: "%.4f", ppl))\n".data(using: .utf8)!) }
        }
        if json {
            emit(
                JSONText.object(
                    [
                        ("ppl", JSONText.number(result.ppl)), ("chunks", String(result.chunks)),
                        ("ctx", String(ctx)), ("tokens_scored", String(result.scored)),
                        ("arithmetic", JSONText.string(mode == .float32 ? "float32" : "quantized")),
                        ("activations", JSONText.string(mode.rawValue)), ("kv_cache", JSONText.string(kvCache.rawValue)),
                        ("cushion_tokens", String(prefix.count)),
                        ("mean_ffn_active", JSONText.number(result.meanFFNActive)),
                        ("tokens_per_second", JSONText.number(result.tokensPerSecond))
                    ] + (profile.map { Self.calibrationJSON($0) } ?? [])))
        } else {
            for line in profile?.summaryLines ?? [] { emit("calibration \(line)") }
            if let p = profile { emit("calibration crest factor: \(String(format: "%.2f", p.crestLoss)) dB (mean over linear inputs)") }
            let active = String(format: "%.1f%%", 100 * result.meanFFNActive)
            emit("chunks: \(result.chunks), tokens scored: \(result.scored), ffn active: \(active), kv cache: \(kvCache)")
            emit("ppl: \(String(format: "%.4f", result.ppl))")
        }
    }

    /// The calibration's activations: the crest-factor loss and, per kind of linear input,
    /// every layer's max |x| (what sets each static scale).
    static func calibrationJSON(_ p: ActivationProfile) -> [(String, String)] {
        [
            ("calibration_crest_db", JSONText.number(p.crestLoss)),
            (
                "calibration_max_abs",
                JSONText.object(ActivationSites.Kind.allCases.map { k in (k.name, JSONText.array(p.maxAbs(k).map { JSONText.number(Double($0)) })) })
            )
        ]
    }
}
