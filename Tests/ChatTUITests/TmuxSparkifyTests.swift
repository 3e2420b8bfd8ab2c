import Foundation
import XCTest

/// The picker's sparkify action in a real terminal: the sparsity column, a fit of the tiny
/// Gemma 3 fixture (linked into the models folder as `tiny-gemma3`) started with `s`, its
/// progress drawn in the picker while the chat stays responsive, the overlay listed when
/// it is done, and Esc mid-fit leaving no overlay file behind.
final class TmuxSparkifyTests: XCTestCase {
    var t: TmuxDriver!

    override func tearDown() { t?.close() }

    /// A driver whose models folder also holds the tiny fixture, and whose config points the
    /// picker's fits at a calibration text of the repository's KJV chunks repeated, cut into
    /// `tokens` tokens (the fit's length grows with them).
    func driver(tokens: Int) throws -> TmuxDriver {
        let t = try TmuxDriver()
        try TinyGemmaScratch.link(into: t.root.appendingPathComponent("models"))
        let kjv = try String(contentsOfFile: TinyGemmaScratch.calibration, encoding: .utf8)
            .replacingOccurrences(of: "\u{0C}", with: "\n")
        let calibration = t.root.appendingPathComponent("calibration.txt")
        try String(repeating: kjv + "\n", count: 8).write(to: calibration, atomically: true, encoding: .utf8)
        let config: [String: Any] = [
            "temperature": 0, "max_tokens": 6, "sparkify_tokens": tokens, "sparkify_calibration": calibration.path
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: t.configFile)
        return t
    }

    var modelsFolder: [String] { (try? FileManager.default.contentsOfDirectory(atPath: t.root.appendingPathComponent("models").path)) ?? [] }

    /// The picker row of `name` (its name cell follows the box edge and the current-model
    /// mark), "" when not shown.
    func row(_ screen: String, _ name: String) -> String {
        screen.split(separator: "\n").first { $0.contains("│  \(name) ") || $0.contains("│● \(name) ") }.map(String.init) ?? ""
    }

    /// Opens the picker on `tiny-gemma3` and asks for a fit at the fraction ←/→ reached.
    func startFit(_ t: TmuxDriver, right: Int) throws {
        try t.keys("chat", "F2")
        t.waitFor("chat", "the picker with the sparsity column") { $0.contains("sparsity") && $0.contains("tiny-gemma3") }
        try t.keys("chat", "Down", "Down")
        try t.keys("chat", "s")
        t.waitFor("chat", "fraction of FFN neurons kept 0.5")
        for _ in 0..<right { try t.keys("chat", "Right") }
        try t.keys("chat", "Enter")
    }

    func testPickerSparkifiesATinyGemmaWithProgressAndListsTheOverlay() throws {
        t = try driver(tokens: 12_000)
        try t.start("chat", "$APP --model alpha")
        t.waitFor("chat", "model alpha ready")
        try t.keys("chat", "F2")
        let picker = t.waitFor("chat", "the picker") { $0.contains("sparsity") && $0.contains("tiny-gemma3") }
        XCTAssertTrue(row(picker, "tiny-gemma3").contains("dense"), "sparsity column of the dense fixture:\n\(picker)")
        XCTAssertTrue(row(picker, "alpha").contains("dense"), picker)
        try t.keys("chat", "Escape")
        t.waitFor("chat", "picker closed") { !$0.contains("Enter switch") }

        try startFit(t, right: 1)
        let progress = t.waitFor("chat", "the fit's progress bar and time left") {
            $0.contains("sparkify tiny-gemma3 at 0.25: ") && $0.contains("% ") && $0.contains(" left")
        }
        XCTAssertTrue(progress.contains("Esc cancel fit"), progress)
        let done = t.waitFor("chat", "the overlay listed", timeout: 120) { self.row($0, "tiny-gemma3.sparkify-f0.25").contains("sparkify 25% FFN") }
        XCTAssertTrue(done.contains("sparkified tiny-gemma3 in"), done)
        XCTAssertTrue(modelsFolder.contains("tiny-gemma3.sparkify-f0.25.safetensors"), "\(modelsFolder)")
        XCTAssertFalse(modelsFolder.contains { $0.contains(".tmp-") }, "no temporary file left: \(modelsFolder)")

        // The new overlay is selected: Enter runs it, and the stats panel says what it skips.
        try t.keys("chat", "Enter")
        t.waitFor("chat", "switched to the overlay", timeout: 60) { $0.contains("switched to tiny-gemma3.sparkify-f0.25") }
        t.waitFor("chat", "sparsity  sparkify 25% FFN")
    }

    func testEscMidFitLeavesNoOverlayAndTheChatStaysResponsive() throws {
        t = try driver(tokens: 150_000)
        try t.start("chat", "$APP --model alpha")
        t.waitFor("chat", "model alpha ready")
        try startFit(t, right: 0)
        t.waitFor("chat", "the fit under way") { $0.contains("sparkify tiny-gemma3 at 0.5: ") && $0.contains(" left") }

        // The picker closed, the fit goes on and the chat answers keys at once. "q" and the
        // text go in one write, as keys typed ahead of a busy app arrive: the "q" closes the
        // picker and the rest lands in the input.
        try t.type("chat", "qstill here")
        t.waitFor("chat", "typing echoed during the fit", timeout: 5) { $0.contains("› still here") }
        try t.keys("chat", "F2")
        t.waitFor("chat", "the fit still drawn in the picker") { $0.contains("sparkify tiny-gemma3 at 0.5: ") }

        try t.keys("chat", "Escape")
        t.waitFor("chat", "sparkify of tiny-gemma3 cancelled; no overlay written")
        XCTAssertFalse(modelsFolder.contains { $0.contains(".sparkify") }, "no overlay, whole or partial: \(modelsFolder)")
        let s = t.screen("chat")
        XCTAssertFalse(s.contains("tiny-gemma3.sparkify"), s)
        XCTAssertTrue(s.contains("Enter switch, s sparkify"), "the picker stays open for another try:\n\(s)")
    }
}
