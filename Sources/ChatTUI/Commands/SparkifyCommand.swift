import ArgumentParser
import Foundation
import Inference

/// `sparkchat sparkify`: fits a sparkify overlay (a dense Gemma made activation-sparse
/// without training; docs/spark-checkpoint.md) in Swift, as scripts/sparkify does in
/// PyTorch, and writes it beside the base model. The overlay's path is the last line of
/// stdout; progress goes to stderr. Ctrl-C stops the fit and leaves no file behind.
struct SparkifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sparkify", abstract: "Fit a sparkify overlay (activation-sparse FFN) for a dense Gemma model.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "Target fraction of active FFN neurons, in (0, 1).") var fraction: Double
    @Option(
        name: .long, help: "Rank of a low-rank gate predictor (default 0: the selection reads the exact gate, far better quality).")
    var rank: Int?
    @Option(
        name: .long,
        help:
            "What weights each neuron's score per token: exact-up (the token's own |up·x|; reads the whole up projection, far better quality) or typical (the neuron's typical |u|, the reference's rule)."
    )
    var score = SparkifyScore.exactUp
    @Option(name: [.short, .customLong("output")], help: "Overlay path (default: beside the model, named by fraction, rank and score).")
    var output: String?
    @Option(name: .long, help: "Calibration text (UTF-8; default: calibration/kjv-sparkify.txt, the reference's KJV chunks).")
    var calibration: String?
    @Option(name: .long, help: "Calibration tokens (chunks of 512 including BOS).") var tokens = SparkifyRequest.defaultTokens
    @Option(name: .long, help: "Passes that refit each layer's dropped map on the sparse model's own inputs (0: the reference fit alone).")
    var refitPasses = 0
    @Option(name: .long, help: "What the refit matches: layer (the dense FFN on the sparse input) or model (the dense model's FFN output).")
    var refitTarget = "layer"
    @Option(name: .long, help: "Ridge of the refit, relative to the inputs' mean square.") var ridge = 1e-2
    @Flag(
        inversion: .prefixedNo,
        help:
            "Distil each layer in order on the sparse model's own inputs: refit its down projection and dropped map to the dense layer's output (off by default; see the README)."
    )
    var distill = false
    @Option(name: .long, help: "Ridge of the distillation, relative to the mean square of its features.")
    var distillRidge = SparkifyRequest.defaultDistillRidge
    @Option(
        name: .long,
        help:
            "Rank of the dropped neurons' compensation (a low-rank map of what the dropped neurons would have added; 0: none). Needs rank 0 and the exact-up score."
    )
    var compensationRank = SparkifyRequest.defaultCompensationRank

    func validate() throws {
        if !(fraction > 0 && fraction < 1) { throw ValidationError("--fraction must be in (0, 1)") }
        if let r = rank, r < 0 { throw ValidationError("--rank must be >= 0") }
        if refitPasses < 0 || refitPasses > 8 { throw ValidationError("--refit-passes must be between 0 and 8") }
        if !(ridge > 0 && ridge < 1e3) { throw ValidationError("--ridge must be in (0, 1000)") }
        if !(distillRidge > 0 && distillRidge < 1e3) { throw ValidationError("--distill-ridge must be in (0, 1000)") }
        if tokens < 64 || tokens > 1 << 20 { throw ValidationError("--tokens must be between 64 and 1048576") }
        if compensationRank < 0 || compensationRank > 4096 { throw ValidationError("--compensation-rank must be between 0 and 4096") }
    }

    func run() throws {
        guard let target = SparkifyFitter.RefitTarget(rawValue: refitTarget) else {
            throw ValidationError("--refit-target must be layer or model")
        }
        let request = SparkifyRequest(
            fraction: fraction, rank: rank, exactUp: score == .exactUp, output: output, calibration: calibration, tokens: tokens,
            refitPasses: refitPasses, refitTarget: target, ridge: ridge, distillRidge: distill ? distillRidge : nil,
            compensationRank: compensationRank)
        defer { Interrupt.uninstall() }
        let bar = ProgressBar()
        let path = try request.run(
            load: { try options.load() }, willWrite: { Interrupt.install(temporaryFile: $0) },
            progress: { bar.show($0.done, of: $0.total, $0.stage) }, isCancelled: { Interrupt.requested })
        bar.finish()
        emit(path)
    }
}

enum SparkifyOverlayName {
    static func isOverlay(_ path: String) -> Bool { ModelCatalog.isSparkifyOverlay(URL(fileURLWithPath: path).lastPathComponent) }
}

/// SIGINT during a fit: the first sets a flag the fit polls (it stops within a layer
/// and deletes its temporary file); a second one deletes the temporary file and exits.
enum Interrupt {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0
    nonisolated(unsafe) static var temporary: UnsafeMutablePointer<CChar>?
    static var requested: Bool { flag != 0 }

    static func install(temporaryFile: String) {
        temporary = strdup(temporaryFile)
        signal(SIGINT) { _ in
            if Interrupt.flag != 0 {
                if let t = Interrupt.temporary { unlink(t) }
                _exit(130)
            }
            Interrupt.flag = 1
        }
    }

    static func uninstall() {
        signal(SIGINT, SIG_DFL)
        free(temporary); temporary = nil
    }
}

/// A one-line progress bar with the estimated time left, on stderr.
final class ProgressBar {
    private let start = Date()
    private let tty = isatty(STDERR_FILENO) != 0

    func show(_ done: Int, of total: Int, _ stage: String) {
        let frac = total > 0 ? Double(done) / Double(total) : 0
        let width = 30, filled = Int(frac * Double(width))
        let elapsed = Date().timeIntervalSince(start)
        let eta = Self.timeLeft(done: done, total: total, elapsed: elapsed)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "[\(bar)] \(Int(frac * 100))% \(stage)  elapsed \(Self.clock(elapsed))  left \(eta.isFinite ? Self.clock(eta) : "?")"
        FileHandle.standardError.write(((tty ? "\r\u{1B}[K" : "") + line + (tty ? "" : "\n")).data(using: .utf8)!)
    }

    func finish(_ verb: String = "fitted") {
        if tty { FileHandle.standardError.write("\n".data(using: .utf8)!) }
        FileHandle.standardError.write("\(verb) in \(Self.clock(Date().timeIntervalSince(start)))\n".data(using: .utf8)!)
    }

    /// Seconds left at the pace so far (nan before the first step is done).
    static func timeLeft(done: Int, total: Int, elapsed: Double) -> Double {
        guard done > 0, total > 0 else { return .nan }
        let frac = Double(done) / Double(total)
        return elapsed / frac - elapsed
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
    }
}

/// `sparkify --score`: what weights each neuron's selection score.
enum SparkifyScore: String, ExpressibleByArgument, CaseIterable {
    case exactUp = "exact-up", typical
}
