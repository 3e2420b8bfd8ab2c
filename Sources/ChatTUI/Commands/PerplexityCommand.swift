// PLACEHOLDER until the engine lands.
import ArgumentParser
struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "perplexity")
    func run() throws { print("perplexity: not yet") }
}
