import ArgumentParser
import Foundation
import Inference

/// One sparkify fit from calibration text to overlay file: what `sparkchat sparkify` runs
/// and what the model picker's background job (SparkifyJob) runs, so both give the same file.
struct SparkifyRequest: Sendable {
    var fraction: Double
    /// nil: `defaultRank`.
    var rank: Int?
    /// The token's exact |u| weights the selection score (SparkifyFit): far better quality,
    /// for reading the whole up projection.
    var exactUp = true
    /// nil: beside the base model, named by fraction and rank (SparkifyFitter.overlayName).
    var output: String?
    /// nil: calibration/kjv-sparkify.txt beside the binary (the reference's KJV chunks).
    var calibration: String?
    var tokens = SparkifyRequest.defaultTokens
    var refitPasses = 0
    var refitTarget = SparkifyFitter.RefitTarget.layer
    var ridge = 1e-2
    /// Ridge of the layer-by-layer distillation (SparkifyDistill); nil (the default): none.
    /// Off by default: on Gemma 3 270M with the 3,000 calibration tokens it halves each
    /// layer's error on the calibration text but did not lower held-out perplexity (README).
    var distillRidge: Double? = nil
    /// Rank of the dropped neurons' compensation (DroppedCompensation); 0: none.
    var compensationRank = SparkifyRequest.defaultCompensationRank

    static let defaultTokens = 3072
    static let defaultCompensationRank = 0
    static let defaultDistillRidge = 10.0

    /// 0: the selection reads the exact gate. The reference's rank-128 predictor costs
    /// Gemma 3 270M far more quality (held-out perplexity 1.5x-3.7x dense at 50%, with or
    /// without the exact-up score) than the whole gate costs in speed (README).
    static let defaultRank = 0

    /// Where the overlay of `basePath` goes; known before the model is loaded (the name
    /// depends on the rank and the score only).
    func overlayPath(basePath: String) -> String {
        output
            ?? URL(fileURLWithPath: basePath).deletingLastPathComponent()
            .appendingPathComponent(
                SparkifyFitter.overlayName(
                    baseFile: basePath, fraction: fraction, rank: rank ?? Self.defaultRank, exactUp: exactUp,
                    compensationRank: compensationRank)
            ).path
    }

    /// Reads the calibration text, loads the model (`load`), fits and writes the overlay
    /// atomically; returns its path. `willWrite` gets the temporary file's path before the
    /// fit starts (a signal handler may need it). Cancelled: SparkifyFitter.Cancelled, no file left.
    func run(
        load: () throws -> LoadedModel, willWrite: (String) -> Void = { _ in },
        progress: (SparkifyFitter.Progress) -> Void, isCancelled: () -> Bool
    ) throws -> String {
        let text = try SparkifyCalibration.readText(try calibration ?? Self.defaultCalibration())
        let loaded = try load()
        let chunks = try SparkifyCalibration.chunks(text, tokenizer: loaded.tokenizer, tokens: tokens)
        let rank = self.rank ?? Self.defaultRank
        let basePath = loaded.info.path
        let path = overlayPath(basePath: basePath)
        guard SparkifyOverlayName.isOverlay(path) else {
            throw ValidationError("the overlay's file name must contain .sparkify and end in .safetensors (got \(path))")
        }
        try Self.checkWritable(directoryOf: path)
        willWrite(SparkifyFitter.temporaryPath(for: path))
        let fits = try SparkifyFitter.fit(
            loaded, chunks: chunks, fraction: fraction, rank: rank, exactUp: exactUp,
            refitPasses: refitPasses, refitTarget: refitTarget, ridge: ridge, distillRidge: distillRidge,
            compensationRank: compensationRank, progress: progress, isCancelled: isCancelled)
        try SparkifyFitter.write(
            fits, to: path, basePath: basePath, fraction: fraction, rank: rank,
            calibrationTokens: chunks.reduce(0) { $0 + $1.count }, isCancelled: isCancelled)
        return path
    }

    /// Fails before the work (not a minute later) when the output cannot be written;
    /// a missing directory is made, as `-o` into a new folder expects.
    static func checkWritable(directoryOf path: String) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw ValidationError("cannot create the directory \(dir.path)")
        }
        guard access(dir.path, W_OK) == 0 else { throw ValidationError("cannot write to \(dir.path)") }
    }

    static func defaultCalibration() throws -> String {
        for dir in DataDirectories.search("calibration", configDirectory: AppConfig.directory()) {
            let p = dir.appendingPathComponent("kjv-sparkify.txt").path
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        throw ValidationError("calibration/kjv-sparkify.txt not found beside the binary; pass --calibration FILE")
    }
}
