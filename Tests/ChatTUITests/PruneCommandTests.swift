import Foundation
import XCTest

/// `sparkchat prune` as scripts use it, on the tiny Gemma 3 fixture copied into a models
/// directory: a line per layer on stderr, the new file's path last on stdout, the default
/// name beside the model, and the pruned model loaded by the other commands.
final class PruneCommandTests: XCTestCase {
    var models: URL!

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: HeadlessCommandTests.binary) else { throw XCTSkip("no binary") }
        let fixture = HeadlessCommandTests.repoRoot.appendingPathComponent("Tests/Fixtures/family/gemma3/model-f16.gguf")
        guard FileManager.default.fileExists(atPath: fixture.path) else { throw XCTSkip("fixture missing") }
        models = FileManager.default.temporaryDirectory.appendingPathComponent("prune-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixture, to: models.appendingPathComponent("tiny.gguf"))
    }
    override func tearDownWithError() throws { if let m = models { try? FileManager.default.removeItem(at: m) } }

    func sparkchat(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try sparkchat(args) }

    func sparkchat(_ args: [String]) throws -> SparkchatRunner.Result {
        try SparkchatRunner.run(args, environment: ["SPARKCHAT_MODELS": models.path])
    }

    func testPruneWritesBesideTheModelAndEveryCommandLoadsIt() throws {
        let r = try sparkchat("prune", "--model", "tiny", "--method", "2:4")
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = models.appendingPathComponent("tiny.prune-2of4.gguf").path
        XCTAssertEqual(r.stdout.split(separator: "\n").last.map(String.init), expected)
        let layers = r.stderr.split(separator: "\n").filter { $0.hasPrefix("layer ") }
        XCTAssertGreaterThanOrEqual(layers.count, 2, r.stderr)
        XCTAssertTrue(layers.allSatisfy { $0.contains("ffn_up 5") }, r.stderr)

        let listed = try sparkchat("models")
        XCTAssertTrue(listed.stdout.contains("tiny.prune-2of4"), listed.stdout)
        XCTAssertTrue(listed.stdout.contains("pruned 2:4"), listed.stdout)
        let gen = try sparkchat("generate", "--model", "tiny.prune-2of4", "--prompt", "a b c", "--max-tokens", "3", "--temperature", "0", "--json")
        XCTAssertEqual(gen.status, 0, gen.stderr)
        XCTAssertTrue(gen.stdout.contains("\"done\":true"), gen.stdout)
        let logits = try sparkchat("logits", "--model", expected, "--text", "a b", "--top", "3")
        XCTAssertEqual(logits.status, 0, logits.stderr)

        let global = try sparkchat("prune", "--model", "tiny", "--method", "magnitude:0.5", "--scope", "global")
        XCTAssertEqual(global.stdout.split(separator: "\n").last.map(String.init), models.appendingPathComponent("tiny.prune-mag0.5-global.gguf").path)
    }

    func testBadArgumentsAndInputsAreOneLineErrors() throws {
        for args in [
            ["prune", "--model", "tiny", "--method", "magnitude:1.5"], ["prune", "--model", "tiny", "--method", "4:2"],
            ["prune", "--model", "tiny", "--method", "2:4", "--scope", "global"], ["prune", "--model", "tiny", "--method", "2:4", "-o", "x.bin"]
        ] {
            let r = try sparkchat(args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertEqual(r.stderr.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, r.stderr)
        }
        let truncated = models.appendingPathComponent("cut.gguf")
        try Data(try Data(contentsOf: models.appendingPathComponent("tiny.gguf")).prefix(5000)).write(to: truncated)
        let r = try sparkchat("prune", "--model", truncated.path, "--method", "2:4")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: models.path).sorted(), ["cut.gguf", "tiny.gguf"])
    }
}
