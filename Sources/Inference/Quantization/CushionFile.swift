import Foundation

/// What `sparkchat cushion` writes and `perplexity --cushion` / `generate --cushion` read:
/// the searched prefix (BOS first) with the loss of each step. A file from elsewhere is
/// hostile: every field is checked and every problem is one line naming the file.
public struct CushionFile: Codable, Equatable, Sendable {
    public struct Step: Codable, Equatable, Sendable {
        public var token: Int
        public var text: String
        public var loss: Double
        public init(token: Int, text: String, loss: Double) { self.token = token; self.text = text; self.loss = loss }
    }

    public static let formatName = "sparkchat-cushion"
    public static let maximumBytes = 1 << 20
    public static let maximumPrefix = 256

    public var format = CushionFile.formatName
    public var version = 1
    /// The model's file (or directory) name: a cushion is searched for one model.
    public var model: String
    public var objective: String
    public var prefixIds: [Int]
    public var prefixText: String
    /// The objective with no cached prefix (BOS measured with the text).
    public var baselineLoss: Double
    public var steps: [Step]
    public var candidates: [Int]
    public var calibrationTokens: Int

    enum CodingKeys: String, CodingKey {
        case format, version, model, objective, steps, candidates
        case prefixIds = "prefix_ids", prefixText = "prefix_text", baselineLoss = "baseline_loss"
        case calibrationTokens = "calibration_tokens"
    }

    public init(
        model: String, objective: String, prefixIds: [Int], prefixText: String, baselineLoss: Double,
        steps: [Step], candidates: [Int], calibrationTokens: Int
    ) {
        self.model = model; self.objective = objective; self.prefixIds = prefixIds; self.prefixText = prefixText
        self.baselineLoss = baselineLoss; self.steps = steps; self.candidates = candidates
        self.calibrationTokens = calibrationTokens
    }

    /// The tokens to run for `prompt` (which starts with BOS): the cushion (BOS first) takes
    /// the place of the prompt's BOS, as perplexity puts it.
    public func prefixing(_ prompt: [Int], bos: Int) -> [Int] {
        prefixIds.isEmpty ? prompt : prefixIds + prompt.drop(while: { $0 == bos })
    }

    /// Reads and checks a cushion file. `vocabularySize` and `bos`, when given (the model
    /// it will run with), also check that every id fits and that the prefix starts with BOS.
    public static func read(_ path: String, vocabularySize: Int? = nil, bos: Int? = nil) throws -> CushionFile {
        let name = URL(fileURLWithPath: path).lastPathComponent
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular, let size = attributes[.size] as? Int
        else { throw EngineError.file("cannot read cushion file \(path)") }
        guard size <= maximumBytes else { throw EngineError.input("cushion file \(name) is \(size) bytes (at most \(maximumBytes))") }
        guard let data = FileManager.default.contents(atPath: path) else { throw EngineError.file("cannot read cushion file \(path)") }
        let file: CushionFile
        do { file = try JSONDecoder().decode(CushionFile.self, from: data) } catch {
            throw EngineError.input("cushion file \(name) is not a cushion file (\(Self.reason(error)))")
        }
        try file.check(name: name, vocabularySize: vocabularySize, bos: bos)
        return file
    }

    func check(name: String, vocabularySize: Int?, bos: Int?) throws {
        func fail(_ why: String) -> EngineError { .input("cushion file \(name): \(why)") }
        guard format == Self.formatName else { throw fail("format is \"\(format.prefix(40))\", not \(Self.formatName)") }
        guard version == 1 else { throw fail("version \(version) is not supported (1)") }
        guard !prefixIds.isEmpty, prefixIds.count <= Self.maximumPrefix else {
            throw fail("prefix_ids has \(prefixIds.count) tokens (1 to \(Self.maximumPrefix))")
        }
        let limit = vocabularySize ?? Int(Int32.max)
        for id in prefixIds + candidates + steps.map(\.token) where id < 0 || id >= limit {
            throw fail("token id \(id) is outside the vocabulary (\(limit))")
        }
        if let b = bos, prefixIds[0] != b { throw fail("the prefix must start with BOS (\(b)), not \(prefixIds[0])") }
        guard baselineLoss.isFinite, steps.allSatisfy({ $0.loss.isFinite }) else { throw fail("a loss is not a finite number") }
        guard steps.map(\.token) == prefixIds else { throw fail("steps do not match prefix_ids") }
        guard calibrationTokens >= 0 else { throw fail("calibration_tokens is negative") }
    }

    /// The decoding error as a short phrase (never a multi-line dump).
    static func reason(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field \(key.stringValue)"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted: return "not valid JSON, or truncated"
        default: return "unreadable"
        }
    }

    /// Where the file is written before it is renamed into place.
    public static func temporaryPath(for path: String) -> String { path + ".tmp-\(getpid())" }

    /// Writes the file atomically: a temporary file beside `path`, synced, renamed. On any
    /// error the temporary file is removed and `path` is untouched.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self) + Data("\n".utf8)
        let temp = Self.temporaryPath(for: path)
        var ok = false
        defer { if !ok { unlink(temp) } }
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError.file("cannot create \(temp)") }
        let written = data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard written else { throw EngineError.file("cannot write \(temp)") }
        guard rename(temp, path) == 0 else { throw EngineError.file("cannot rename \(temp) to \(path)") }
        ok = true
    }
}
