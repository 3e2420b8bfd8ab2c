import ArgumentParser
import Foundation

/// `sparkchat`: with no subcommand it opens the chat; headless subcommands serve scripts.
@main
struct SparkChat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sparkchat",
        abstract: "Chat with local Gemma-family and Spark models in the terminal.",
        subcommands: [ChatCommand.self, GenerateCommand.self, TokenizeCommand.self, LogitsCommand.self,
                      PerplexityCommand.self, BenchCommand.self, ModelsCommand.self, SessionsCommand.self],
        defaultSubcommand: ChatCommand.self)
}
