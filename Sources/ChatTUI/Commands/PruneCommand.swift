import ArgumentParser
import Foundation
import Inference

/// `sparkchat prune`: one-shot pruning of a GGUF model's transformer layer matrices
/// (attention q/k/v/o, FFN gate/up/down) into a new GGUF beside it, which every command
/// and the chat's picker load like any model. A line per layer goes to stderr; the new
/// file's path is the last line of stdout. Ctrl-C leaves no file behind.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a model's layer matrices (magnitude or N:M) into a new GGUF.",
        discussion: """
            Pruned: the attention q/k/v/o and FFN gate/up/down matrices of every layer. The token \
            embedding (which is also the tied LM head), the norms and everything else stay dense and \
            are copied byte for byte; metadata sparkchat.prune.* records the method.
            A pruned matrix keeps its type where that type stores an exact zero (F32, F16, BF16, Q8_0, \
            Q4_0, Q5_0, Q6_K: only the pruned weights' codes change); Q4_1, Q5_1, Q4_K and Q5_K have a \
            per-block minimum and cannot, so those matrices are re-encoded as Q8_0. The zeros are \
            stored, not skipped: the file is no smaller and decodes no faster than the dense model.
            """)

    @Option(name: .long, help: "Model: a GGUF file, a safetensors checkpoint directory or a name from `sparkchat models` (default: the default model).")
    var model: String?
    @Option(
        name: .long,
        help:
            "magnitude:F (the fraction F in (0, 1) of smallest-magnitude weights set to zero) or N:M (keep the N largest of every M consecutive weights along the input dimension, e.g. 2:4)."
    )
    var method: String
    @Option(name: .long, help: "For magnitude:F: layer (F of each matrix) or global (one threshold across all layer matrices).")
    var scope = "layer"
    @Option(
        name: [.short, .customLong("output")],
        help: "Output GGUF (default: beside the model, <model>.prune-<method>.gguf; for a checkpoint directory a directory <dir>.prune-<method>).")
    var output: String?

    func validate() throws {
        guard PruneMethod.Scope(rawValue: scope) != nil else { throw ValidationError("--scope must be layer or global") }
        do { _ = try PruneMethod.parse(method) } catch { throw ValidationError("--method: \(error)") }
        if scope == "global", !method.hasPrefix("magnitude:") { throw ValidationError("--scope global applies to magnitude:F only") }
    }

    func run() throws {
        let method = try PruneMethod.parse(self.method, scope: PruneMethod.Scope(rawValue: scope)!)
        try RemoteModels.refuseRemote(model, command: "prune")
        let modelPath = try model.map { try ModelCatalog.resolve($0) } ?? ModelCatalog.defaultModel()
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory)
        let path =
            output
            ?? URL(fileURLWithPath: modelPath).standardizedFileURL.deletingLastPathComponent()
            .appendingPathComponent(method.outputName(base: modelPath, isDirectory: isDirectory.boolValue)).path
        if !isDirectory.boolValue, !path.hasSuffix(".gguf") {
            throw ValidationError("the output's name must end in .gguf, or the models list would not show it (got \(path))")
        }
        try SparkifyRequest.checkWritable(directoryOf: path)
        Interrupt.install(temporaryFile: GGUFRewriter.temporaryPath(for: path))
        defer { Interrupt.uninstall() }
        let start = Date()
        let summary = try ModelPruner.prune(
            modelPath: modelPath, method: method, output: path,
            progress: { r in
                let cells = r.matrices.map { "\($0.name) \(String(format: "%.1f", 100 * $0.zeroFraction))%" }.joined(separator: "  ")
                FileHandle.standardError.write("layer \(r.layer + 1)/\(r.layerCount) zero: \(cells)\n".data(using: .utf8)!)
            },
            isCancelled: { Interrupt.requested })
        let pct = { (n: Int) in String(format: "%.2f%%", 100 * Double(n) / Double(max(summary.weights, 1))) }
        FileHandle.standardError.write(
            ("pruned \(method): \(summary.weights) layer-matrix weights, nonzero \(pct(summary.weights - summary.zerosBefore)) before, "
                + "\(pct(summary.weights - summary.zerosAfter)) after; \(summary.fileBytes) bytes in \(ProgressBar.clock(Date().timeIntervalSince(start)))\n")
                .data(using: .utf8)!)
        emit(path)
    }
}
