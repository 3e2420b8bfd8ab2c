import ArgumentParser
import Foundation
import Inference
import Remote
import Serve

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the models in the models directory and on the configured remote endpoints.",
        discussion: """
            Remote models (config.json "endpoints", or OPENAI_BASE_URL with OPENAI_API_KEY as the endpoint \
            "openai") are named ENDPOINT/MODEL_ID; every endpoint is asked at once, and one that does not \
            answer within 1.5 s is listed as unreachable.
            """)
    @Flag(name: .long, help: "One JSON object per model.") var json = false

    func run() throws {
        let dir = ModelCatalog.defaultDirectory()
        var problems: [String] = []
        let models = ModelCatalog.scan(directory: dir) { problems.append($0) }
        let (config, configNotice) = AppConfig.load()
        if let n = configNotice { FileHandle.standardError.write("\(n)\n".data(using: .utf8)!) }
        let listings = RemoteClient.listModels(RemoteModels.endpoints(config))
        if json {
            for m in models {
                emit(
                    JSONText.object([
                        ("name", JSONText.string(m.name)), ("path", JSONText.string(m.path)),
                        ("architecture", JSONText.string(m.architecture)), ("format", JSONText.string(m.format)),
                        ("parameters", String(m.parameterCount)), ("quantization", JSONText.string(m.quantization)),
                        ("size", String(m.fileSize)), ("context_length", String(m.contextLength)),
                        ("chat_format", JSONText.string(m.chatFormatLabel)), ("chat_style", JSONText.string(m.chatStyle.reason)),
                        ("sparsity", JSONText.string(m.sparsity))
                    ]))
            }
            for l in listings { for line in ModelsCommand.remoteJSON(l) { emit(line) } }
        } else if models.isEmpty && listings.isEmpty {
            emit("no models in \(dir.path)")
        } else {
            let rows =
                [["NAME", "ARCH", "FORMAT", "PARAMS", "QUANT", "SIZE", "CONTEXT", "CHAT", "SPARSITY"]]
                + models.map {
                    [
                        $0.name, $0.architecture, $0.format, Format.count($0.parameterCount), $0.quantization,
                        Format.bytes($0.fileSize), String($0.contextLength), $0.chatFormatLabel, $0.sparsity
                    ]
                } + listings.flatMap(ModelsCommand.remoteRows)
            let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max()! }
            for r in rows {
                emit(
                    r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                        .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
            if models.isEmpty { FileHandle.standardError.write("no local models in \(dir.path)\n".data(using: .utf8)!) }
        }
        for p in problems { FileHandle.standardError.write("skipped \(p)\n".data(using: .utf8)!) }
    }

    /// A remote model's row; an endpoint that did not answer is one row saying why.
    static func remoteRows(_ l: EndpointListing) -> [[String]] {
        switch l.result {
        case .success(let list):
            return list.map {
                [
                    "\($0.endpoint)/\($0.id)", "remote", "remote", "–", "–", "–",
                    $0.contextLength.map(String.init) ?? "–", "server", "–"
                ]
            }
        case .failure(let e):
            return [["\(l.endpoint.name)/", "remote", "remote", "–", "–", "–", "–", "unreachable: \(e)", "–"]]
        }
    }

    static func remoteJSON(_ l: EndpointListing) -> [String] {
        let common = [
            ("format", JSONText.string("remote")), ("endpoint", JSONText.string(l.endpoint.name)),
            ("url", JSONText.string(l.endpoint.baseURL))
        ]
        switch l.result {
        case .success(let list):
            return list.map { m in
                JSONText.object(
                    [("name", JSONText.string(m.qualifiedName))] + common + [
                        ("id", JSONText.string(m.id)), ("context_length", m.contextLength.map(String.init) ?? "null"),
                        ("owned_by", m.ownedBy.map(JSONText.string) ?? "null")
                    ])
            }
        case .failure(let e):
            return [
                JSONText.object(
                    [("name", JSONText.string("\(l.endpoint.name)/"))] + common + [
                        ("unreachable", "true"), ("error", JSONText.string("\(e)"))
                    ])
            ]
        }
    }
}

enum Format {
    static func count(_ n: Int) -> String {
        n >= 1_000_000_000
            ? String(format: "%.1fB", Double(n) / 1e9)
            : n >= 1_000_000
                ? String(format: "%.0fM", Double(n) / 1e6)
                : n >= 1000 ? String(format: "%.0fK", Double(n) / 1e3) : String(n)
    }
    static func bytes(_ n: Int) -> String {
        n >= 1 << 30
            ? String(format: "%.2f GiB", Double(n) / Double(1 << 30))
            : n >= 1 << 20
                ? String(format: "%.1f MiB", Double(n) / Double(1 << 20))
                : String(format: "%.1f KiB", Double(n) / 1024)
    }
}
