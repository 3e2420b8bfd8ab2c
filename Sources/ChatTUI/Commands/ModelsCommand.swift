import ArgumentParser
import Foundation
import Inference

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "List the models in the models directory.")
    @Flag(name: .long, help: "One JSON object per model.") var json = false

    func run() throws {
        let dir = ModelCatalog.defaultDirectory()
        var problems: [String] = []
        let models = ModelCatalog.scan(directory: dir) { problems.append($0) }
        if json {
            for m in models {
                emit(JSON.object([("name", JSON.string(m.name)), ("path", JSON.string(m.path)),
                                  ("architecture", JSON.string(m.architecture)), ("format", JSON.string(m.format)),
                                  ("parameters", String(m.parameterCount)), ("quantization", JSON.string(m.quantization)),
                                  ("size", String(m.fileSize)), ("context_length", String(m.contextLength)),
                                  ("chat_format", JSON.string(m.chatFormatLabel)), ("chat_style", JSON.string(m.chatStyle.reason))]))
            }
        } else if models.isEmpty {
            emit("no models in \(dir.path)")
        } else {
            let rows = [["NAME", "ARCH", "FORMAT", "PARAMS", "QUANT", "SIZE", "CONTEXT", "CHAT"]] + models.map {
                [$0.name, $0.architecture, $0.format, Format.count($0.parameterCount), $0.quantization,
                 Format.bytes($0.fileSize), String($0.contextLength), $0.chatFormatLabel]
            }
            let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
            for r in rows {
                emit(r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: "  "))
            }
        }
        for p in problems { FileHandle.standardError.write("skipped \(p)\n".data(using: .utf8)!) }
    }
}

enum Format {
    static func count(_ n: Int) -> String {
        n >= 1_000_000_000 ? String(format: "%.1fB", Double(n) / 1e9)
            : n >= 1_000_000 ? String(format: "%.0fM", Double(n) / 1e6)
            : n >= 1000 ? String(format: "%.0fK", Double(n) / 1e3) : String(n)
    }
    static func bytes(_ n: Int) -> String {
        n >= 1 << 30 ? String(format: "%.2f GiB", Double(n) / Double(1 << 30))
            : n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / Double(1 << 20))
            : String(format: "%.1f KiB", Double(n) / 1024)
    }
}
