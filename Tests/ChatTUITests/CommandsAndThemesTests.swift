import Foundation
import Inference
import Sessions
import XCTest

@testable import ChatTUI

final class CommandsAndThemesTests: XCTestCase {
    func testSlashCommands() {
        func ok(_ s: String) -> SlashCommand? { if case .success(let c)? = SlashCommands.parse(s) { return c }; return nil }
        XCTAssertEqual(ok("/model beta"), .model("beta"))
        XCTAssertEqual(ok("/model"), .model(nil))
        XCTAssertEqual(ok("/system Be brief.  "), .system("Be brief."))
        XCTAssertEqual(ok("/temp 0.2"), .temperature(0.2))
        XCTAssertEqual(ok("/sparsity off"), .sparsity("off"))
        XCTAssertEqual(ok("/sparsity 0.08"), .sparsity("stat-topk:0.08"))
        XCTAssertEqual(ok("/sparsity stat-topk:0.5"), .sparsity("stat-topk:0.5"))
        XCTAssertEqual(ok("/export html /tmp/a b.html"), .export(.html, "/tmp/a b.html"))
        XCTAssertEqual(ok("/export json"), .export(.json, nil))
        XCTAssertEqual(ok("/speculative slice"), .speculative("slice:16384@4"))
        XCTAssertEqual(ok("/speculative slice:8192@6"), .speculative("slice:8192@6"))
        XCTAssertEqual(ok("/spec lookup"), .speculative("lookup:3@4"))
        XCTAssertEqual(ok("/speculative sparse:0.25"), .speculative("sparse:0.25@4"))
        XCTAssertEqual(ok("/speculative model:/m/small.gguf@3"), .speculative("model:/m/small.gguf@3"))
        XCTAssertEqual(ok("/speculative off"), .speculative(nil))
        XCTAssertEqual(ok("/clear"), .clear); XCTAssertEqual(ok("/copy"), .copy)
        XCTAssertEqual(ok("/quit"), .quit); XCTAssertEqual(ok("/help"), .help)
        XCTAssertNil(SlashCommands.parse("hello /model"))
        XCTAssertNil(SlashCommands.parse("//model is a path"))
        for bad in [
            "/temp hot", "/temp -1", "/sparsity 2", "/sparsity", "/export pdf", "/frobnicate",
            "/speculative", "/speculative turbo", "/speculative slice@0", "/speculative sparse:2", "/speculative model:"
        ] {
            guard case .failure(let e)? = SlashCommands.parse(bad) else { return XCTFail(bad) }
            XCTAssertFalse(e.description.contains("\n"))
        }
    }

    func testKeymap() {
        XCTAssertEqual(Keymap.chat(.text("?"), inputEmpty: true), .help)
        XCTAssertEqual(Keymap.chat(.text("?"), inputEmpty: false), .insert("?"))
        XCTAssertEqual(Keymap.chat(.function(2), inputEmpty: true), .picker)
        XCTAssertEqual(Keymap.chat(.function(3), inputEmpty: true), .toggleStats)
        XCTAssertEqual(Keymap.chat(.function(4), inputEmpty: true), .sessions)
        XCTAssertEqual(Keymap.chat(.escape, inputEmpty: true), .stop)
        XCTAssertEqual(Keymap.chat(.newline, inputEmpty: true), .newline)
        XCTAssertEqual(Keymap.chat(.wheelUp, inputEmpty: true), .scroll(Keymap.wheelRows))
    }

    static var themesDir: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("themes")
    }

    func testShippedThemesDefineEveryRoleForBothColourDepths() throws {
        for name in ["dark", "light", "high-contrast"] {
            let data = try Data(contentsOf: CommandsAndThemesTests.themesDir.appendingPathComponent("\(name).json"))
            let t = try Theme.parse(data, name: name)
            XCTAssertEqual(t.name, name)
            for role in StyleRole.allCases {
                let s = try XCTUnwrap(t.styles[role], "\(name) lacks \(role)")
                XCTAssertNotNil(s.fg, "\(name).\(role) fg"); XCTAssertNotNil(s.fg8, "\(name).\(role) fg8")
            }
        }
    }

    func testBadThemesGiveOneLineErrors() {
        // The last two were found by the theme fuzzer: a colour name quoted raw.
        let cases = [
            "{", #"{"roles": {"user": {"fg": 300}}}"#, #"{"roles": {"user": {"fg8": "chartreuse"}}}"#,
            #"{"roles": {"emphasis": {"fg8": "g\reen"}}}"#,
            #"{"roles": {"user": {"fg8": "\#(String(repeating: "\\n", count: 2000))"}}}"#
        ]
        for c in cases {
            XCTAssertThrowsError(try Theme.parse(Data(c.utf8), name: "x")) { e in
                XCTAssertFalse("\(e)".contains("\n") || "\(e)".contains("\r"), "\(e)")
                XCTAssertLessThan("\(e)".count, 300)
            }
        }
        XCTAssertThrowsError(try Theme.load("../../etc/passwd", configDirectory: URL(fileURLWithPath: "/nonexistent")))
        XCTAssertThrowsError(try Theme.load("no-such-theme", configDirectory: URL(fileURLWithPath: "/nonexistent")))
    }

    func testModelPickerColumns() {
        let m = ModelInfo(
            name: "alpha", path: "/m/alpha.gguf", architecture: "gemma3", format: "gguf",
            parameterCount: 268_098_176, quantization: "Q4_K_M", fileSize: 253_105_696, contextLength: 32768)
        XCTAssertEqual(ModelPicker.columns(m), ["alpha", "gemma3", "268M", "Q4_K_M", "241 MB", "32768", "dialogue", "dense"])
        XCTAssertTrue(ModelPicker.canSparkify(m))
        var sparse = m
        sparse.sparsity = "sparkify 50% FFN"
        XCTAssertEqual(ModelPicker.columns(sparse).last, "sparkify 50% FFN")
        XCTAssertFalse(ModelPicker.canSparkify(sparse), "an overlay is not fitted again")
        XCTAssertEqual(ModelPicker.count(2_506_172_416), "2.5B")
        XCTAssertEqual(ModelPicker.bytes(5 << 30), "5.0 GB")
        var p = ModelPicker(
            models: [m, m, m].enumerated().map {
                var x = $1; x.name = "m\($0)"; return x
            }, current: "m1")
        XCTAssertEqual(p.selected, 1)
        p.move(10); XCTAssertEqual(p.choice?.name, "m2")
        p.move(-10); XCTAssertEqual(p.choice?.name, "m0")
        var c = Canvas(width: 12, height: 4)  // a window too small for the box still draws nothing broken
        p.render(into: &c, screen: c.bounds)
        XCTAssertEqual(c.row(0).count, 12)
    }

    func testOSC52CarriesTheTextInBase64() {
        let s = Clipboard.osc52("héllo 😀")
        XCTAssertTrue(s.hasPrefix("\u{1b}]52;c;")); XCTAssertTrue(s.hasSuffix("\u{07}"))
        let b64 = String(s.dropFirst(7).dropLast())
        XCTAssertEqual(String(data: Data(base64Encoded: b64)!, encoding: .utf8), "héllo 😀")
        let long = Clipboard.osc52(String(repeating: "日", count: 40_000))
        let decoded = Data(base64Encoded: String(long.dropFirst(7).dropLast()))!
        XCTAssertLessThanOrEqual(decoded.count, Clipboard.maxBytes)
        XCTAssertNotNil(String(data: decoded, encoding: .utf8), "cut inside a UTF-8 sequence")
    }

    func testStatsPanelShowsDenseTruthAndSparseFractions() {
        var dense = TokenStats()
        dense.ffnActivePerLayer = [2048, 2048, 2048]; dense.ffnTotalPerLayer = [2048, 2048, 2048]
        dense.flops = 1e9; dense.flopsDense = 1e9
        var live = LiveStats(promptTokens: 10, contextLimit: 100, started: Date())
        live.add(TokenEvent(id: 5, text: "a", logprob: 0, ms: 1, stats: dense))
        XCTAssertEqual(StatsPanel.sparkline(dense), "███")
        var rows = StatsPanel.rows(live, model: "m", sparsity: "off", streaming: true).map { $0.0 }
        XCTAssertTrue(rows.contains("FFN active 100.0% 6144/6144"), "\(rows)")
        XCTAssertTrue(rows.contains("context   11 / 100 (11.0%)"), "\(rows)")
        var sparse = dense
        sparse.ffnActivePerLayer = [164, 1024, 2048]; sparse.flops = 2.5e8
        live.add(TokenEvent(id: 6, text: "b", logprob: 0, ms: 1, stats: sparse))
        XCTAssertEqual(StatsPanel.sparkline(sparse), "▁▄█")
        rows = StatsPanel.rows(live, model: "m", sparsity: "stat-topk:0.5", streaming: true).map { $0.0 }
        XCTAssertTrue(rows.contains { $0.hasPrefix("FFN active 52.7% 3236/6144") }, "\(rows)")
        XCTAssertTrue(rows.contains { $0.contains("25.0% of dense") }, "\(rows)")
        XCTAssertTrue(rows.contains { $0.contains("62.5% of dense") }, "\(rows)")
        XCTAssertEqual(live.messageStats.generatedTokens, 2)
        XCTAssertEqual(live.messageStats.meanActiveFFN, Double(6144 + 3236) / Double(2 * 6144), accuracy: 1e-9)
    }

    /// While a drafter is on, the panel shows the reply's acceptance rate and tokens per
    /// target pass (live counts, then the summary's exact ones), and the message keeps the rate.
    func testStatsPanelShowsSpeculativeAcceptanceAndLoadTime() {
        var live = LiveStats(promptTokens: 10, contextLimit: 100, started: Date())
        var rows = StatsPanel.rows(live, model: "m", sparsity: "off", streaming: true, loadMs: 41.6).map { $0.0 }
        XCTAssertTrue(rows.contains("          loaded in 42 ms"), "\(rows)")
        XCTAssertTrue(rows.contains("speculate off"), "\(rows)")
        XCTAssertFalse(rows.contains { $0.hasPrefix("accepted") }, "no acceptance row for plain decoding")
        XCTAssertNil(live.messageStats.speculativeAcceptance)

        live.speculative = "slice:16384@4"
        for i in 0..<5 { live.add(TokenEvent(id: 100 + i, text: "x", logprob: 0, ms: 1, stats: TokenStats())) }
        live.speculativeProposed = 8; live.speculativeAccepted = 6; live.targetPasses = 2
        rows = StatsPanel.rows(live, model: "m", sparsity: "off", streaming: true, speculative: "slice:16384@4").map { $0.0 }
        XCTAssertTrue(rows.contains("speculate slice:16384@4"), "\(rows)")
        XCTAssertTrue(rows.contains("accepted  75% (6/8 drafts)"), "\(rows)")
        XCTAssertTrue(rows.contains("per pass  2.50 tok / target pass"), "\(rows)")
        XCTAssertFalse(rows.contains { $0.hasPrefix("drafter") }, "the reply's drafter is the setting")

        // The summary's counts replace the running ones; the message records the rate.
        var s = GenerationSummary()
        s.generatedTokens = 5; s.speculativeProposed = 10; s.speculativeAccepted = 4; s.targetPasses = 3
        live.finish(s, contextUsed: 15)
        XCTAssertEqual(live.messageStats.speculativeAcceptance ?? -1, 0.4, accuracy: 1e-12)
        rows = StatsPanel.rows(live, model: "m", sparsity: "off", streaming: false, speculative: nil).map { $0.0 }
        XCTAssertTrue(rows.contains("drafter   slice:16384@4"), "setting turned off since: the reply's drafter is named")
        XCTAssertTrue(rows.contains("accepted  40% (4/10 drafts)"), "\(rows)")
        XCTAssertTrue(rows.contains("per pass  1.67 tok / target pass"), "\(rows)")
        for r in rows { XCTAssertLessThanOrEqual(TextWidth.of(r), Layout.statsColumnWidth - 3, "row wider than the panel: \(r)") }
    }

    /// config.json's `speculative` key: a valid drafter becomes the session default in
    /// canonical form, off and invalid values leave it off; --speculative wins.
    func testSpeculativeSettingFromConfigAndOptions() throws {
        var cfg = try JSONDecoder().decode(AppConfig.self, from: Data(#"{"speculative": "lookup@2", "temperature": 0}"#.utf8))
        XCTAssertEqual(cfg.speculative, "lookup@2")
        XCTAssertEqual(ChatApp.defaultSettings(cfg).speculative, "lookup:3@2")
        cfg.speculative = "off"
        XCTAssertNil(ChatApp.defaultSettings(cfg).speculative)
        cfg.speculative = "warp-drive"
        XCTAssertNil(ChatApp.defaultSettings(cfg).speculative)
        var s = ChatApp.defaultSettings(cfg)
        ChatApp.applyOverrides(ChatOptions(speculative: "slice:4096"), to: &s)
        XCTAssertEqual(s.speculative, "slice:4096@4")
        ChatApp.applyOverrides(ChatOptions(speculative: "off"), to: &s)
        XCTAssertNil(s.speculative)
    }
}
