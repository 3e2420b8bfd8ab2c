import ArgumentParser
import Foundation
import Inference
import XCTest

@testable import ChatTUI

/// `--kv-cache f32|q8_0` on every model-running command: parsed into the engine's type,
/// listed in the help, a bad value or an unsupported model refused in one line, and the
/// cache's bytes reported by `generate --json`. config.json's `kv_cache` follows the same rule.
final class KVCacheOptionTests: XCTestCase {
    let tiny = HeadlessCommandTests.repoRoot.appendingPathComponent("Tests/Fixtures/family/gemma3").path

    func sparkchat(_ args: [String]) throws -> SparkchatRunner.Result {
        try SparkchatRunner.requireBinary()
        return try SparkchatRunner.run(args)
    }

    func testEveryCommandParsesTheOption() throws {
        XCTAssertEqual(try GenerateCommand.parse(["--prompt", "x", "--kv-cache", "q8_0"]).kvCache, .q8_0)
        XCTAssertEqual(try GenerateCommand.parse(["--prompt", "x"]).kvCache, .f32)
        XCTAssertEqual(try BenchCommand.parse(["--kv-cache", "q8_0"]).kvCache, .q8_0)
        XCTAssertEqual(try PerplexityCommand.parse(["--file", "f", "--kv-cache", "q8_0"]).kvCache, .q8_0)
        XCTAssertEqual(try ServeCommand.parse(["--kv-cache", "f32"]).kvCache, .f32)
        XCTAssertEqual(try ChatCommand.parse(["--kv-cache", "q8_0"]).kvCache, .q8_0)
        XCTAssertNil(try ChatCommand.parse([]).kvCache)
        for command in [GenerateCommand.self, BenchCommand.self, PerplexityCommand.self, ServeCommand.self, ChatCommand.self] as [ParsableCommand.Type] {
            let help = command.helpMessage()
            XCTAssertTrue(help.contains("--kv-cache <f32|q8_0>"), "\(command): \(help)")
        }
    }

    func testBadValueIsOneLine() throws {
        let r = try sparkchat(["generate", "--model", tiny, "--prompt", "x", "--kv-cache", "q4_0"])
        XCTAssertNotEqual(r.status, 0)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") && !$0.isEmpty }
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("--kv-cache"), r.stderr)
    }

    func testSparkModelRefusesQ8InOneLine() throws {
        let spark = HeadlessCommandTests.repoRoot.appendingPathComponent("Tests/Fixtures/spark/tiny").path
        guard FileManager.default.fileExists(atPath: spark) else { throw XCTSkip("spark fixture missing") }
        let r = try sparkchat(["generate", "--model", spark, "--prompt", "x", "--max-tokens", "2", "--kv-cache", "q8_0"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("--kv-cache q8_0 is not supported"), r.stderr)
    }

    /// The done object names the cache and its bytes: the same positions in q8_0's layout
    /// (this checkpoint's heads of 16 values: one zero-padded block of 34 bytes against 64).
    func testGenerateReportsCacheBytes() throws {
        var bytes: [String: Int] = [:]
        for type in ["f32", "q8_0"] {
            let r = try sparkchat([
                "generate", "--model", tiny, "--prompt", "one two three", "--max-tokens", "4", "--temperature", "0",
                "--json", "--kv-cache", type
            ])
            XCTAssertEqual(r.status, 0, r.stderr)
            let last = try XCTUnwrap(r.stdout.split(separator: "\n").last)
            let done = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
            XCTAssertEqual(done["kv_cache"] as? String, type)
            bytes[type] = try XCTUnwrap(done["kv_bytes"] as? Int)
            XCTAssertEqual(done["recurrent_state_bytes"] as? Int, 0)
        }
        XCTAssertGreaterThan(bytes["q8_0"]!, 0)
        XCTAssertEqual(bytes["q8_0"]! * 64, bytes["f32"]! * 34)
    }

    func testConfigValueIsChecked() {
        var c = AppConfig()
        c.kvCache = "q8_0"
        XCTAssertEqual(SettingsValidation.sanitize(&c, source: "config.json"), [])
        c.kvCache = "int4"
        let notices = SettingsValidation.sanitize(&c, source: "config.json")
        XCTAssertEqual(notices.count, 1)
        XCTAssertTrue(notices[0].contains("kv_cache"), notices[0])
        XCTAssertNil(c.kvCache)
    }

    /// The stats panel shows the KV cache's bytes after a reply (kept while the next one
    /// streams) and, for RecurrentGemma, its constant recurrent state beside them.
    func testStatsPanelShowsCacheAndRecurrentBytes() throws {
        let dir = HeadlessCommandTests.repoRoot.appendingPathComponent("Tests/Fixtures/family/recurrent_gemma").path
        guard FileManager.default.fileExists(atPath: dir) else { throw XCTSkip("fixture missing") }
        let m = try LoadedModel.load(path: dir)
        try m.useKVCache(.q8_0)
        var p = SamplingParameters.greedy
        p.maxTokens = 3
        var summary = GenerationSummary()
        try Generator(model: m).generate(tokens: [2, 10, 11, 12], parameters: p) { e in
            if case .done(let s) = e { summary = s }
        }
        XCTAssertGreaterThan(summary.kvCacheBytes, 0)
        XCTAssertGreaterThan(summary.recurrentStateBytes, 0)
        var live = LiveStats(promptTokens: 4, contextLimit: 64, started: Date())
        var rows = StatsPanel.rows(live, model: "m", sparsity: "off", streaming: true).map(\.0)
        XCTAssertTrue(rows.contains("KV cache  –"), "\(rows)")
        live.finish(summary, contextUsed: 7)
        rows = StatsPanel.rows(live, model: "m", sparsity: "off", streaming: false).map(\.0)
        XCTAssertTrue(rows.contains("KV cache  \(StatsPanel.si(Double(summary.kvCacheBytes)))B"), "\(rows)")
        XCTAssertTrue(rows.contains("recurrent \(StatsPanel.si(Double(summary.recurrentStateBytes)))B (constant)"), "\(rows)")
        live.remote = true
        rows = StatsPanel.rows(live, model: "m", sparsity: "off", streaming: false).map(\.0)
        XCTAssertFalse(rows.contains { $0.hasPrefix("KV cache") }, "a remote reply has no local cache")
    }
}
