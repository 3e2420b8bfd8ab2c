import ArgumentParser
import Inference

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logits", abstract: "Print the top next-token logits as JSON [[id, logit], ...] (BOS added).")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "Text to score.") var text: String = ""
    @Option(name: .long, help: "How many of the highest logits to print.") var top = 10
    @Option(name: .long, help: ArgumentHelp("Comma-separated token ids instead of --text (debugging).", visibility: .hidden)) var ids: String?

    func validate() throws {
        try ArgumentCheck.requireUTF8Arguments()
        if top < 1 { throw ValidationError("--top must be >= 1") }
        if text.isEmpty && ids == nil { throw ValidationError("--text is empty") }
    }

    func run() throws {
        let loaded = try options.load(for: "logits")
        let ids =
            try self.ids.map { s in
                try s.split(separator: ",").map {
                    guard let i = Int($0) else { throw ValidationError("bad id \($0)") }; return i
                }
            }
            ?? loaded.tokenizer.encode(text, addBOS: true)
        guard !ids.isEmpty else { throw ValidationError("--text is empty") }
        let state = loaded.model.makeState(capacity: max(ids.count + 1, 16))
        let logits = try loaded.model.forward(ids, state: state, logitRows: [ids.count - 1], sparsity: .off, stats: nil)
        let order = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(min(top, logits.count))
        emit("[" + order.map { "[\($0),\(logits[$0])]" }.joined(separator: ",") + "]")
    }
}
