import ArgumentParser
import Foundation
import Inference

/// One CushionCache search from calibration text to cushion file: what `sparkchat cushion`
/// runs (and what the tests run, with their own cancellation).
struct CushionRequest: Sendable {
    /// nil: beside the model, `<model name>.cushion.json`.
    var output: String?
    /// nil: calibration/kjv-sparkify.txt beside the binary.
    var calibration: String?
    var length = CushionRequest.defaultLength
    var candidates = CushionRequest.defaultCandidates
    var tokens = CushionRequest.defaultTokens

    /// Measured on the 270M with 2 cores: each candidate costs one float forward pass over
    /// the calibration tokens, so the defaults keep the search to a few minutes.
    static let defaultLength = 4
    static let defaultCandidates = 16
    static let defaultTokens = 128

    static let objective = "mean over the linear-layer inputs (q/k/v, o, gate/up, down of every layer) of 20*log10(max|x| / rms(x)) in dB"

    static func defaultPath(modelPath: String) -> String {
        let url = URL(fileURLWithPath: modelPath)
        let base = url.pathExtension.isEmpty ? url.lastPathComponent : url.deletingPathExtension().lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent(base + ".cushion.json").path
    }

    /// Reads the calibration text, loads the model (`load`), searches and writes the cushion
    /// file atomically; returns its path. `willWrite` gets the temporary file's path before
    /// the search starts. Cancelled: CushionSearch.Cancelled, no file left.
    func run(
        load: () throws -> LoadedModel, willWrite: (String) -> Void = { _ in },
        progress: (CushionSearch.Progress) -> Void, isCancelled: () -> Bool
    ) throws -> String {
        let text = try SparkifyCalibration.readText(try calibration ?? SparkifyRequest.defaultCalibration())
        let loaded = try load()
        let segments = try CushionSearch.segments(text, tokenizer: loaded.tokenizer, tokens: tokens)
        let path = output ?? Self.defaultPath(modelPath: loaded.info.path)
        try SparkifyRequest.checkWritable(directoryOf: path)
        willWrite(CushionFile.temporaryPath(for: path))
        let pool = CushionSearch.candidates(segments: segments, tokenizer: loaded.tokenizer, count: candidates)
        let result = try CushionSearch.search(
            loaded, segments: segments, length: length, candidates: pool, progress: progress, isCancelled: isCancelled)
        if isCancelled() { throw CushionSearch.Cancelled() }
        let tk = loaded.tokenizer
        let file = CushionFile(
            model: URL(fileURLWithPath: loaded.info.path).lastPathComponent, objective: Self.objective,
            prefixIds: result.prefix, prefixText: tk.decode(result.prefix),
            baselineLoss: result.baselineLoss,
            steps: result.steps.map { CushionFile.Step(token: $0.token, text: tk.decode([$0.token]), loss: $0.loss) },
            candidates: result.candidates, calibrationTokens: segments.reduce(0) { $0 + $1.count })
        try file.write(to: path)
        return path
    }
}
