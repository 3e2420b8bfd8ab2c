import ArgumentParser
import Foundation
import Inference

/// `sparkchat chat` (and plain `sparkchat`): the terminal chat.
struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat", abstract: "Open the chat (the default).")
    @Option(name: .long, help: "Model path or catalog name (default: the config's, else the default model).") var model: String?
    @Option(name: .long, help: "Session id to continue (see `sparkchat sessions list`).") var session: String?
    @Option(name: .long, help: "Colour theme: dark, light, high-contrast, or a path to a theme JSON file.") var theme: String?
    @OptionGroup var sampling: SamplingOptions
    @Option(name: .long, help: OptionHelp.sparsity) var sparsity: SparsityMode?
    @Option(name: .long, help: OptionHelp.speculative) var speculative: SpeculativeMode?
    @Option(name: .long, help: "Chat format: \(ChatFormats.usage) (default: auto, from the model's files).") var format: String?
    @Option(name: .long, help: "Worker threads (default: all CPUs).") var threads: Int?
    @Option(name: .long, help: OptionHelp.kvCache) var kvCache: KVCacheType?
    @Option(
        name: .long,
        help: "A cushion file (sparkchat cushion): its prefix is cached before every reply of the model it was searched for, never shown.")
    var cushion: String?

    func validate() throws {
        try ArgumentCheck.requireUTF8Arguments()
        // The rules config.json and session files are checked with (SettingsValidation).
        if sampling.maxTokens == 0 { try SettingsValidation.require("--max-tokens", SettingsValidation.maxTokens(0)) }
        if let v = speculative { try SettingsValidation.require("--speculative", SettingsValidation.speculative(v.description, trusted: true)) }
        if let t = threads, t < 1 || t > 256 { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() throws {
        if let t = threads { ComputePool.shared.setThreads(t) }
        let app = try ChatApp(
            options: ChatOptions(
                model: model, session: session, theme: theme, sampling: sampling.overrides,
                sparsity: sparsity?.description, speculative: speculative?.description, format: format,
                kvCache: kvCache, cushion: cushion))
        app.run()
        // Everything is saved (or its fallback copy written) and the terminal restored; leave
        // without the C library's exit handlers: OpenBLAS's joins its idle threads there and
        // was seen to hang forever (3 quits in 20 on a loaded machine), a chat that never quits.
        // Turns that could not be saved: the app has said where their copy went (stderr).
        fflush(stdout)
        fflush(stderr)
        _exit(app.quitWithUnsavedTurns ? 1 : 0)
    }
}
