import XCTest

@testable import Inference

/// What the sparkify stage tests (distillation, refit, compensation) share: the tiny
/// Gemma 3 checkpoint, the reference's calibration chunks, a layer's FFN inputs, and the
/// prefill-versus-decode comparison every overlay kind must pass.
protocol SparkifyFixtureHelpers {}

extension SparkifyFixtureHelpers {
    func calibration() throws -> [[Int]] {
        let j = try XCTUnwrap(try Fixtures.json("sparkify/expected.json") as? [String: Any])
        return try XCTUnwrap(j["calibration"] as? [[Int]])
    }

    /// Layer `li`'s FFN inputs over `chunks`, run by the model as it is now.
    func inputs(_ gemma: GemmaModel, layer li: Int, _ chunks: [[Int]]) throws -> [Float] {
        var rows: [Float] = []
        let d = gemma.config.hiddenSize
        gemma.ffnInputObserver = { layer, x, count in
            if layer == li { rows.append(contentsOf: UnsafeBufferPointer(start: x, count: count * d)) }
        }
        defer { gemma.ffnInputObserver = nil }
        for chunk in chunks {
            _ = try gemma.forward(
                chunk, state: gemma.makeState(capacity: chunk.count), logitRows: [chunk.count - 1], sparsity: .off, stats: nil)
        }
        return rows
    }

    /// A fresh directory holding a link to the tiny Gemma 3 checkpoint (overlays are written
    /// beside their base): the directory, to remove, and the link.
    func linkedBase(_ tag: String) throws -> (URL, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sparkify-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let base = dir.appendingPathComponent("gemma3")
        try FileManager.default.createSymbolicLink(at: base, withDestinationURL: Fixtures.url("family/gemma3"))
        return (dir, base)
    }

    /// The last position's logits of `ids` read in one prefill and decoded one token at a time.
    func prefillAndDecode(_ model: LoadedModel, _ ids: [Int]) throws -> (prefill: [Float], decoded: [Float]) {
        let prefill = try model.model.forward(
            ids, state: model.model.makeState(capacity: 16), logitRows: [ids.count - 1], sparsity: .off, stats: nil)
        let state = model.model.makeState(capacity: 16)
        var decoded: [Float] = []
        for id in ids { decoded = try model.model.forward([id], state: state, logitRows: [0], sparsity: .off, stats: nil) }
        return (prefill, decoded)
    }
}
