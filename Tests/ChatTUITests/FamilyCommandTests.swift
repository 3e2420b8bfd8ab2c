import Foundation
import XCTest

/// `sparkchat logits` and `sparkchat generate` on every tiny family checkpoint
/// (Tests/Fixtures/family/<arch>, safetensors directories and converted GGUFs), checked
/// against the transformers reference numbers in each expected.json.
final class FamilyCommandTests: XCTestCase {
    static let archs = ["gemma", "gemma2", "gemma3", "recurrent_gemma"]
    static var fixtures: URL {
        HeadlessCommandTests.repoRoot.appendingPathComponent("Tests/Fixtures/family")
    }

    func sparkchat(_ args: [String]) throws -> SparkchatRunner.Result {
        try SparkchatRunner.requireBinary()
        return try SparkchatRunner.run(args)
    }

    func expected(_ arch: String) throws -> [String: Any] {
        let u = Self.fixtures.appendingPathComponent("\(arch)/expected.json")
        guard FileManager.default.fileExists(atPath: u.path) else { throw XCTSkip("fixture \(arch) missing") }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: u)) as! [String: Any]
    }

    func models(_ arch: String) -> [String] {
        let dir = Self.fixtures.appendingPathComponent(arch)
        let gguf = dir.appendingPathComponent("model-f16.gguf").path
        return [dir.path] + (FileManager.default.fileExists(atPath: gguf) ? [gguf] : [])
    }

    func testLogitsCommandMatchesReferenceOnEveryArchitecture() throws {
        for arch in Self.archs {
            let e = try expected(arch)
            let want = (e["cli_top5"] as! [[NSNumber]]).map { ($0[0].intValue, $0[1].doubleValue) }
            let margins = (e["cli_top_margins"] as! [NSNumber]).map(\.doubleValue)
            for model in models(arch) {
                let r = try sparkchat(["logits", "--model", model, "--text", e["cli_text"] as! String, "--top", "5"])
                XCTAssertEqual(r.status, 0, "\(arch): \(r.stderr)")
                let got = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[Double]], r.stdout)
                XCTAssertEqual(got.count, 5)
                for (k, pair) in got.enumerated() where k < want.count {
                    // Ranks may swap only where the reference itself is a near-tie.
                    if Int(pair[0]) != want[k].0 {
                        XCTAssertLessThan(min(margins[k], k > 0 ? margins[k - 1] : 1), 1e-3, "\(arch) \(model) rank \(k)")
                    }
                    XCTAssertEqual(pair[1], want[k].1, accuracy: 2e-3, "\(arch) \(model) rank \(k)")
                }
            }
        }
    }

    func testGenerateCommandIsGreedyReferenceOnEveryArchitecture() throws {
        for arch in Self.archs {
            let e = try expected(arch)
            let want = e["cli_greedy"] as! [Int]
            for model in models(arch) {
                let r = try sparkchat([
                    "generate", "--model", model, "--prompt", e["cli_text"] as! String,
                    "--max-tokens", "\(want.count)", "--temperature", "0", "--json"
                ])
                XCTAssertEqual(r.status, 0, "\(arch): \(r.stderr)")
                let lines = r.stdout.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
                let ids = lines.compactMap { $0["id"] as? Int }
                // Generation stops early only at EOS / end_of_turn, which a random model may emit.
                XCTAssertEqual(ids, Array(want.prefix(ids.count)), "\(arch) \(model)")
                XCTAssertGreaterThan(ids.count, 0, "\(arch) \(model)")
                XCTAssertEqual(lines.last?["done"] as? Bool, true)
                // Plain-text mode prints the same continuation.
                let text = try sparkchat([
                    "generate", "--model", model, "--prompt", e["cli_text"] as! String,
                    "--max-tokens", "\(want.count)", "--temperature", "0"
                ])
                XCTAssertEqual(text.status, 0, text.stderr)
                let joined = lines.compactMap { $0["text"] as? String }.joined()
                XCTAssertEqual(text.stdout.trimmingCharacters(in: .newlines), joined.trimmingCharacters(in: .newlines))
            }
        }
    }

    func testBrokenCheckpointIsAOneLineError() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("family-cli-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("gemma2"), to: tmp)
        defer { try? FileManager.default.removeItem(at: tmp) }
        try FileManager.default.removeItem(at: tmp.appendingPathComponent("model-00003-of-00003.safetensors"))
        let r = try sparkchat(["logits", "--model", tmp.path, "--text", "hi"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("missing shard"), r.stderr)
        XCTAssertEqual(r.stderr.trimmingCharacters(in: .newlines).split(separator: "\n").count, 1, r.stderr)
    }

    func testModelsListsCheckpointDirectories() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("family-models-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        for arch in Self.archs {
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent(arch), to: tmp.appendingPathComponent("tiny-\(arch)"))
        }
        try FileManager.default.copyItem(
            at: HeadlessCommandTests.repoRoot.appendingPathComponent("Tests/Fixtures/spark/tiny"), to: tmp.appendingPathComponent("tiny-spark"))
        guard FileManager.default.isExecutableFile(atPath: HeadlessCommandTests.binary) else { throw XCTSkip("no binary") }
        let r = try SparkchatRunner.run(["models"], environment: ["SPARKCHAT_MODELS": tmp.path])
        let text = r.stdout
        XCTAssertEqual(r.status, 0)
        for arch in Self.archs { XCTAssertTrue(text.contains("tiny-\(arch)"), text) }
        XCTAssertTrue(text.contains("recurrent_gemma"), text)
        XCTAssertTrue(text.contains("safetensors"), text)
        // The sparsity column: what each model skips.
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.first?.hasSuffix("SPARSITY") == true, text)
        XCTAssertTrue(lines.first { $0.hasPrefix("tiny-gemma3 ") }?.hasSuffix("dense") == true, text)
        let spark = lines.first { $0.hasPrefix("tiny-spark ") } ?? ""
        XCTAssertTrue(spark.hasSuffix("continuation  spark 10% FFN · 8 keys"), text)
    }
}
