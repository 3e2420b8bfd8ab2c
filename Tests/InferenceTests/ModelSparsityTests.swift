import XCTest

@testable import Inference

/// What the catalog says a model skips (the picker's and `sparkchat models`' sparsity
/// column), and the plain-continuation chat format of a model trained on plain text.
final class ModelSparsityTests: XCTestCase {
    func testCatalogLabelsDenseSparkifiedAndSparkModels() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sparsity-\(UUID().uuidString.prefix(8))")
        let models = dir.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // The overlay names its base as ../family/gemma3.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("family"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("family/gemma3"), withDestinationURL: Fixtures.url("family/gemma3"))
        try FileManager.default.createSymbolicLink(at: models.appendingPathComponent("dense"), withDestinationURL: Fixtures.url("family/gemma3"))
        try FileManager.default.createSymbolicLink(at: models.appendingPathComponent("spark"), withDestinationURL: Fixtures.url("spark/tiny"))
        try FileManager.default.copyItem(
            at: Fixtures.url("sparkify/tiny-gemma3.sparkify-f0.25.safetensors"),
            to: models.appendingPathComponent("tiny-gemma3.sparkify-f0.25.safetensors"))
        var problems: [String] = []
        let byName = Dictionary(uniqueKeysWithValues: ModelCatalog.scan(directory: models) { problems.append($0) }.map { ($0.name, $0) })
        XCTAssertEqual(problems, [])
        XCTAssertEqual(byName["dense"]?.sparsity, "dense")
        XCTAssertEqual(byName["tiny-gemma3.sparkify-f0.25"]?.sparsity, "sparkify 25% FFN")
        // spark/tiny: spark_ffn_fraction 0.1, spark_attn_topk 8.
        XCTAssertEqual(byName["spark"]?.sparsity, "spark 10% FFN · 8 keys")
        // Loading agrees with the listing.
        XCTAssertEqual(try LoadedModel.load(path: models.appendingPathComponent("spark").path).info.sparsity, "spark 10% FFN · 8 keys")
        XCTAssertEqual(ModelSparsity.sparkify(fraction: 0.125), "sparkify 12.5% FFN")
        XCTAssertEqual(ModelSparsity.spark(config: ["spark_ffn_fraction": 0.08, "spark_attn_topk": 256]), "spark 8% FFN · 256 keys")
    }

    /// A Spark checkpoint (trained from scratch on plain text) is neither instruction-tuned
    /// nor a base model for a `User:` frame: its chat continues the text.
    func testSparkCheckpointChatsByContinuation() throws {
        let m = try LoadedModel.load(path: Fixtures.url("spark/tiny").path)
        guard case .plain = m.info.chatStyle else { return XCTFail("spark_gemma without a template: \(m.info.chatStyle)") }
        XCTAssertEqual(m.info.chatFormatLabel, "continuation")
        XCTAssertEqual(m.chatFormat, .continuation)
        let prompt = m.chatPrompt([
            ChatMessage(role: .system, text: "Be brief."), ChatMessage(role: .user, text: "In the beginning"),
            ChatMessage(role: .model, text: " God created the heaven and the earth."), ChatMessage(role: .user, text: "And the earth\n")
        ])
        XCTAssertEqual(prompt, "In the beginning God created the heaven and the earth. And the earth")
        XCTAssertEqual(m.chatFormat.stopStrings, ["\n\n"])
        // A named instruction-tuned Spark model keeps its markup.
        guard case .instruct = ChatStyle.decide(template: nil, names: ["spark-it"], architecture: "spark_gemma") else { return XCTFail() }
    }
}
