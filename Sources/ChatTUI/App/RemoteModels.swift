import Foundation
import Inference
import Remote

/// The remote endpoints the app knows (config.json's `endpoints`, and `openai` from the
/// ecosystem's OPENAI_BASE_URL) and the names of their models (`ENDPOINT/MODEL_ID`).
enum RemoteModels {
    /// The marker ModelInfo.format carries for a remote model (as `models --json` prints it).
    static let format = "remote"

    static func endpoints(
        _ config: AppConfig,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> [RemoteEndpoint] {
        var out = (config.endpoints ?? []).map { e in
            RemoteEndpoint(name: e.name, baseURL: e.url, apiKey: e.apiKeyEnv.flatMap { environment[$0] }, apiKeyVariable: e.apiKeyEnv)
        }
        if let base = environment["OPENAI_BASE_URL"], !base.isEmpty, !out.contains(where: { $0.name == "openai" }) {
            out.append(RemoteEndpoint(name: "openai", baseURL: base, apiKey: environment["OPENAI_API_KEY"], apiKeyVariable: "OPENAI_API_KEY"))
        }
        return out
    }

    /// `lab/some/model` → (lab, "some/model") when `lab` is an endpoint (a model id may hold
    /// slashes: `google/gemma-3-27b-it`). A path that exists on disk stays a path.
    static func reference(_ name: String, endpoints: [RemoteEndpoint]) -> (endpoint: RemoteEndpoint, id: String)? {
        guard let slash = name.firstIndex(of: "/") else { return nil }
        let prefix = String(name[..<slash]), id = String(name[name.index(after: slash)...])
        guard !id.isEmpty, let e = endpoints.first(where: { $0.name == prefix }) else { return nil }
        if FileManager.default.fileExists(atPath: name) { return nil }
        return (e, id)
    }

    /// What the picker and the stats show for a remote model: no weights here, so no size,
    /// parameters or quantization; the server applies its own chat template.
    static func info(endpoint: String, id: String, contextLength: Int?) -> ModelInfo {
        let name = "\(endpoint)/\(id)"
        return ModelInfo(
            name: name, path: name, architecture: "remote", format: format, parameterCount: 0,
            quantization: "–", fileSize: 0, contextLength: contextLength ?? 0,
            chatStyle: .base(reason: "the server applies its chat template"))
    }

    static func info(_ m: RemoteModel) -> ModelInfo { info(endpoint: m.endpoint, id: m.id, contextLength: m.contextLength) }

    /// An endpoint that did not answer, as a picker row that cannot be chosen.
    static func unreachableInfo(_ endpoint: String, why: String) -> ModelInfo {
        ModelInfo(
            name: "\(endpoint)/", path: "", architecture: "unreachable", format: format, parameterCount: 0,
            quantization: "–", fileSize: 0, contextLength: 0, chatStyle: .base(reason: why))
    }

    /// The commands that read the weights refuse a remote model in one line.
    static func refuseRemote(_ model: String?, command: String) throws {
        guard let m = model, let ref = reference(m, endpoints: endpoints(AppConfig.load().0)) else { return }
        throw RemoteModelError(
            description:
                "\(m) is a remote model (endpoint \(ref.endpoint.name)): \(command) needs the model's weights here; use a local model")
    }
}

struct RemoteModelError: Error, CustomStringConvertible { let description: String }

extension ModelInfo {
    var isRemote: Bool { format == RemoteModels.format }
}
