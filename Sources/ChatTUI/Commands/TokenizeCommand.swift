import ArgumentParser
import Inference

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "Print the token ids of a text as a JSON array.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "Text to tokenize.") var text: String
    @Flag(name: .long, help: "Do not add the BOS token.") var noBos = false

    func validate() throws { try ArgumentCheck.requireUTF8Arguments() }

    func run() throws {
        let loaded = try options.load(for: "tokenize")
        let ids = loaded.tokenizer.encode(text, addBOS: !noBos)
        emit("[" + ids.map(String.init).joined(separator: ",") + "]")
    }
}
