import ArgumentParser
import Inference
import Sessions

// Option values the command line parses straight into the engine's and the sessions'
// types: `--help` shows the accepted forms, a bad value gets ArgumentParser's one
// message naming the option, and `run()` never re-parses a string.

extension SparsityMode: ExpressibleByArgument {
    public var defaultValueDescription: String { description }
}

extension SpeculativeMode: ExpressibleByArgument {
    public var defaultValueDescription: String { description }
}

extension ExportFormat: ExpressibleByArgument {}

/// `--kv-cache f32|q8_0` (help lists the values; a bad one is ArgumentParser's one line).
extension KVCacheType: ExpressibleByArgument {}

/// Help text and value names shared by every command that takes these options.
enum OptionHelp {
    static let sparsity = ArgumentHelp(
        "Run-time FFN sparsity: off, or stat-topk:F to keep fraction F of the neurons (statistical top-k).",
        valueName: "off|stat-topk:F")
    static let kvCache = ArgumentHelp(
        "KV cache storage: f32, or q8_0 (int8 blocks of 32 with an fp16 scale, as llama.cpp's -ctk/-ctv q8_0: ~3.8x smaller).",
        valueName: "f32|q8_0")
    static let speculative = ArgumentHelp(
        "Speculative decoding: off, slice[:V], lookup[:N], sparse:F or model:PATH, each optionally @γ (draft length).",
        valueName: "mode")
}

extension SettingsValidation {
    /// A command-line value against its rule: the error names the flag ("--top-p must be in (0, 1]").
    /// (Here, not in SettingsValidation.swift: that file is also built into the fuzz package,
    /// which has no ArgumentParser.)
    static func require(_ flag: String, _ why: String?) throws {
        if let why { throw ValidationError("\(flag) \(why)") }
    }
}
