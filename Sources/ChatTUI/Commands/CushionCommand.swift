import ArgumentParser
import Foundation
import Inference

/// `sparkchat cushion`: CushionCache's greedy prefix search (CushionSearch). Progress goes
/// to stderr, the cushion file's path is the last line of stdout; Ctrl-C stops the search
/// and leaves no file behind.
struct CushionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cushion", abstract: "Search a CushionCache prefix that tames activation outliers for static int8.",
        discussion: """
            The prefix starts with BOS; each step tries the candidate tokens (BOS, separators \
            such as newline and punctuation, and the --candidates most frequent tokens of the \
            calibration text) and keeps the one that most lowers the loss: \(CushionRequest.objective), \
            over the calibration text that follows the prefix in the cache.
            """)
    @OptionGroup var options: ModelOptions
    @Option(name: [.short, .customLong("output")], help: "Cushion file (default: beside the model, <name>.cushion.json).")
    var output: String?
    @Option(name: .long, help: "Searched tokens after BOS (the search stops earlier when no token helps).")
    var length = CushionRequest.defaultLength
    @Option(name: .long, help: "How many of the calibration text's most frequent tokens to try at each step.")
    var candidates = CushionRequest.defaultCandidates
    @Option(name: .long, help: "Calibration text (UTF-8; default: calibration/kjv-sparkify.txt).") var calibration: String?
    @Option(name: .long, help: "Calibration tokens the loss is measured on.") var tokens = CushionRequest.defaultTokens

    func validate() throws {
        if length < 1 || length > 64 { throw ValidationError("--length must be between 1 and 64") }
        if candidates < 0 || candidates > 4096 { throw ValidationError("--candidates must be between 0 and 4096") }
        if tokens < 16 || tokens > 65536 { throw ValidationError("--tokens must be between 16 and 65536") }
    }

    func run() throws {
        let request = CushionRequest(output: output, calibration: calibration, length: length, candidates: candidates, tokens: tokens)
        defer { Interrupt.uninstall() }
        let bar = ProgressBar()
        let path = try request.run(
            load: { try options.load(for: "cushion") }, willWrite: { Interrupt.install(temporaryFile: $0) },
            progress: { bar.show($0.done, of: $0.total, $0.stage) }, isCancelled: { Interrupt.requested })
        bar.finish("searched")
        emit(path)
    }
}
