import XCTest

@testable import Inference

/// Inputs found by the coverage-guided fuzzers (Fuzz/, scripts/fuzz), minimised. Each
/// once produced an error message that quoted a file-supplied name raw: a name holding
/// a newline broke the one-line error, and a long one made it unbounded.
final class FuzzRegressionTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-regressions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// The error of `body`, checked to be one line of at most 300 characters.
    func oneLineError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do { try body() } catch {
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n") || text.contains("\r"), "multi-line: \(text.debugDescription)", file: file, line: line)
            XCTAssertLessThanOrEqual(text.count, 300, "overlong: \(text.prefix(120))…", file: file, line: line)
            return text
        }
        XCTFail("no error", file: file, line: line)
        return ""
    }

    func safetensors(header: String) throws -> SafetensorsFile {
        var h = Array(header.utf8)
        h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8)
        let bytes = withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h
        return try SafetensorsFile(file: bytes.withUnsafeBytes { try MappedFile(copying: $0, path: "model.safetensors") })
    }

    func testTensorNameWithNewlineAndUnboundedLength() {
        let name = "evil\nname" + String(repeating: "x", count: 5000)
        let e = oneLineError { _ = try safetensors(header: #"{"\#(name.replacingOccurrences(of: "\n", with: "\\n"))": 5}"#) }
        XCTAssertTrue(e.contains(#"evil\nname"#), e)  // still names the tensor, escaped
    }

    func testDtypeAndDimensionQuotedFromTheFile() {
        _ = oneLineError { _ = try safetensors(header: #"{"t": {"dtype": "F\n32", "shape": [1], "data_offsets": [0, 4]}}"#) }
        _ = oneLineError { _ = try safetensors(header: #"{"t": {"dtype": "F32", "shape": ["1\n2"], "data_offsets": [0, 4]}}"#) }
        _ = oneLineError { _ = try safetensors(header: #"{"__metadata__": {"a\nb": 1}}"#) }
    }

    /// The fuzzer's input: a shard name of a thousand DEL bytes, quoted whole in the error.
    func testIndexShardNameUnbounded() throws {
        try Data(#"{"model_type": "gemma"}"#.utf8).write(to: tmp.appendingPathComponent("config.json"))
        for shard in [String(repeating: "\u{7F}", count: 1000) + ".safetensors", "a\nb.safetensors", "/etc/x\n"] {
            let index = try JSONSerialization.data(withJSONObject: ["weight_map": ["w": shard]])
            try index.write(to: tmp.appendingPathComponent("model.safetensors.index.json"))
            _ = oneLineError { _ = try SafetensorsCheckpoint(directory: tmp) }
        }
    }

    /// The fuzzer's input: a tokenizer.json whose model type is a thousand backspaces.
    func testTokenizerJSONModelTypeUnbounded() {
        let type = String(repeating: "\\b", count: 1000)
        let json = #"{"model": {"type": "B\#(type)", "vocab": {}}}"#
        let e = oneLineError { _ = try SentencePieceTokenizer.fromTokenizerJSON(Data(json.utf8)) }
        XCTAssertTrue(e.contains("model type B"), e)
    }
}
