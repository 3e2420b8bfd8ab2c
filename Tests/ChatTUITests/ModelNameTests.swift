import XCTest

@testable import ChatTUI

/// The names the TUI shows for a loaded model: the catalog's, so that `/model NAME`
/// and the picker agree.
final class ModelNameTests: XCTestCase {
    func testCatalogNamesDropOnlyTheModelFileExtensions() {
        XCTAssertEqual(ChatApp.catalogName("/m/gemma-3-270m-q4_k_m.gguf"), "gemma-3-270m-q4_k_m")
        XCTAssertEqual(
            ChatApp.catalogName("/m/gemma-3-270m-q4_k_m.sparkify-f0.25.safetensors"),
            "gemma-3-270m-q4_k_m.sparkify-f0.25")
        XCTAssertEqual(ChatApp.catalogName("/m/spark-tiny-kjv"), "spark-tiny-kjv")
        // A checkpoint's own weights file is not an overlay: it keeps its name.
        XCTAssertEqual(ChatApp.catalogName("/m/ckpt/model.safetensors"), "model.safetensors")
    }
}
