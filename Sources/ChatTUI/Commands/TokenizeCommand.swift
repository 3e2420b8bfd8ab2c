// PLACEHOLDER until the engine lands.
import ArgumentParser
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize")
    func run() throws { print("tokenize: not yet") }
}
