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

/// Help text and value names shared by every command that takes these options.
enum OptionHelp {
    static let sparsity = ArgumentHelp(
        "Run-time FFN sparsity: off, or stat-topk:F to keep fraction F of the neurons (statistical top-k).",
        valueName: "off|stat-topk:F")
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
