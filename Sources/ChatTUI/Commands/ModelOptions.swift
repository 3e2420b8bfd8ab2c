import ArgumentParser
import Foundation
import Inference

/// Options every model-running command shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model: a GGUF file, a safetensors checkpoint directory, or a name from `sparkchat models`.")
    var model: String?

    @Option(name: .long, help: "Worker threads (default: all CPUs).")
    var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 || t > 256 { throw ValidationError("--threads must be between 1 and 256") }
    }

    /// Resolves, loads and configures the model; errors are one line. `command` names the
    /// caller in the refusal of a remote model, whose weights are not here.
    func load(for command: String = "this command") throws -> LoadedModel {
        try RemoteModels.refuseRemote(model, command: command)
        if let t = threads { ComputePool.shared.setThreads(t) }
        let path = try model.map { try ModelCatalog.resolve($0) } ?? ModelCatalog.defaultModel()
        return try LoadedModel.load(path: path)
    }
}

/// Checks that raw command-line bytes are UTF-8 (Swift silently repairs them otherwise).
enum ArgumentCheck {
    static func requireUTF8Arguments() throws {
        for i in 1..<Int(CommandLine.argc) {
            guard let p = CommandLine.unsafeArgv[i] else { continue }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
            if String(validating: bytes, as: UTF8.self) == nil {
                throw ValidationError("argument \(i) is not valid UTF-8 text")
            }
        }
    }

    static func readUTF8File(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path)")
        }
        guard let s = String(data: data, encoding: .utf8) else { throw ValidationError("\(path) is not valid UTF-8 text") }
        return s
    }
}

/// Writes to stdout immediately (streamed tokens must appear as they come).
func emit(_ s: String, newline: Bool = true) {
    FileHandle.standardOutput.write((newline ? s + "\n" : s).data(using: .utf8)!)
}
