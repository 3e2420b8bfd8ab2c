import ArgumentParser
import Foundation
import Inference

/// `sparkchat`: with no subcommand it opens the chat; headless subcommands serve scripts.
@main
struct SparkChat: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sparkchat",
        abstract: "Chat with local Gemma-family and Spark models in the terminal.",
        subcommands: [
            ChatCommand.self, GenerateCommand.self, TokenizeCommand.self, LogitsCommand.self,
            PerplexityCommand.self, BenchCommand.self, ModelsCommand.self, SessionsCommand.self,
            ServeCommand.self, SparkifyCommand.self, PruneCommand.self, CushionCommand.self
        ],
        defaultSubcommand: ChatCommand.self)

    /// Errors are one line on stderr (`sparkchat: error: ...`) with a non-zero exit;
    /// help and version requests print as usual.
    static func main() {
        BLASCoreType.reexecIfOpenBLASFellBack()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            let message = SparkChat.message(for: error)
                .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: "; ")
            FileHandle.standardError.write("sparkchat: error: \(message)\n".data(using: .utf8)!)
            Foundation.exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}
