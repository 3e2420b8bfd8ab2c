import Foundation

/// The calibration text of a sparkify fit, cut into token chunks the way the PyTorch
/// reference (scripts/spark/sparkify_gemma.py) cuts the KJV training split: chunks of
/// BOS + 511 tokens spread evenly over the text. A file made of sections separated by
/// form feeds (U+000C) gives one chunk per section instead: calibration/kjv-sparkify.txt
/// holds exactly the reference's six chunks that way (they re-tokenize to the same ids).
public enum SparkifyCalibration {
    /// Tokens after BOS in one chunk (the reference's context of 512).
    public static let chunkTokens = 511
    static let maximumBytes = 64 << 20
    static let minimumTokens = 64

    /// Reads a calibration text; every problem is a one-line error naming the file.
    public static func readText(_ path: String) throws -> String {
        let name = URL(fileURLWithPath: path).lastPathComponent
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = attributes[.size] as? Int, attributes[.type] as? FileAttributeType == .typeRegular,
            let data = FileManager.default.contents(atPath: path)
        else {
            throw EngineError.file("cannot read calibration text \(path)")
        }
        guard size <= maximumBytes else { throw EngineError.input("calibration text \(name) is \(size) bytes (at most \(maximumBytes))") }
        guard !data.isEmpty else { throw EngineError.input("calibration text \(name) is empty") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EngineError.input("calibration text \(name) is not valid UTF-8 (binary or truncated?)")
        }
        // Binary junk can be valid UTF-8 (all bytes < 0x80): text has few control characters.
        let controls = text.unicodeScalars.filter { $0.value < 0x20 && !["\n", "\r", "\t", "\u{0C}"].contains($0) || $0.value == 0x7F }.count
        guard controls * 100 <= text.unicodeScalars.count else {
            throw EngineError.input("calibration text \(name) does not look like text (\(controls) control characters)")
        }
        return text
    }

    /// Chunks of BOS + up to 511 tokens, about `tokens` tokens in all.
    public static func chunks(_ text: String, tokenizer: TextTokenizer, tokens: Int) throws -> [[Int]] {
        let chunkCount = max(1, (tokens + chunkTokens) / (chunkTokens + 1))
        var out: [[Int]]
        if text.contains("\u{0C}") {
            out = text.split(separator: "\u{0C}").prefix(chunkCount)
                .map { [tokenizer.bosId] + tokenizer.encode(String($0), addBOS: false).prefix(chunkTokens) }
        } else {
            let ids = tokenizer.encode(text, addBOS: false)
            let step = ids.count / chunkCount
            out = (0..<chunkCount).map { i in [tokenizer.bosId] + ids[(i * step)..<min(i * step + chunkTokens, ids.count)] }
        }
        out = out.filter { $0.count > 1 }
        let total = out.reduce(0) { $0 + $1.count }
        guard total >= minimumTokens else {
            throw EngineError.input("calibration text has \(total) tokens; a fit needs at least \(minimumTokens)")
        }
        return out
    }
}
