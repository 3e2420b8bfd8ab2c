import Foundation
import Inference

/// Whatever writes the replies: the local engine (LocalReplySource) or a remote
/// OpenAI-compatible endpoint (RemoteReplySource). The generation worker holds one and
/// hands it each request; both report through the same events, so the chat treats a
/// local and a remote reply alike.
protocol ReplySource: AnyObject {
    /// Runs on the generation thread; pushes .started, then .token..., then .done or .failed.
    func reply(_ request: GenerationWorker.Request, cancel: CancellationFlag, events: EventQueue<GenerationWorker.Event>)
}
