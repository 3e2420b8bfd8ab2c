import Foundation
import Inference
import Remote

/// A lock-protected FIFO that hands events from the generation thread to the UI loop.
final class EventQueue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func push(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    func drain() -> [T] { lock.lock(); defer { lock.unlock() }; let out = items; items = []; return out }
}

/// Loads models (or connects to a remote one) and generates replies on its own thread (8 MB stack, as the engine's
/// own streaming thread), so the UI loop keeps serving keys and resizes. Jobs run
/// one at a time in order; results come back through `events`.
final class GenerationWorker: @unchecked Sendable {
    struct Request {
        var messages: [ChatMessage]
        var parameters: SamplingParameters
        var sparsity: SparsityMode
        var speculative: SpeculativeMode = .off
    }
    enum Job {
        case load(path: String)
        /// A model on an OpenAI-compatible endpoint: checked in the endpoint's list, then used.
        case useRemote(RemoteEndpoint, modelID: String)
        case generate(Request)
        case quit
    }
    enum Event {
        /// `seconds`: wall time of the load (map the file, read metadata and tokenizer).
        case loaded(ModelInfo, contextLimit: Int, seconds: Double)
        case loadFailed(String)
        /// The chat format the loaded model runs with, and a notice when the chosen one could not be used.
        case format(String, notice: String?)
        /// A line for the status bar (e.g. whether the --cushion prefix is in use).
        case notice(String, error: Bool)
        case started(promptTokens: Int, contextLimit: Int, droppedMessages: Int)
        case token(TokenEvent)
        /// Running speculative-decoding counts of the reply, after each token while a drafter is on.
        case speculation(proposed: Int, accepted: Int, passes: Int)
        case done(GenerationSummary, contextUsed: Int)
        case failed(String)
    }

    let events = EventQueue<Event>()
    let cancel = CancellationFlag()
    private let lock = NSLock()
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var jobs: [Job] = []
    /// Writes the replies: the loaded model, or a remote endpoint's.
    private var source: ReplySource?
    /// `--format` (wins), else config.json's `formats` entry for the model, else the model's files decide.
    var formatOverride: String?
    /// `chat --kv-cache`, else config.json's `kv_cache`, else f32.
    var kvCacheOverride: KVCacheType?
    /// `chat --cushion`: a `sparkchat cushion` file whose prefix every local reply of the
    /// model it was searched for runs after (cached, never in the transcript).
    var cushionPath: String?
    var config = AppConfig()

    init() {
        let t = Thread { [self] in self.loop() }
        t.stackSize = 8 << 20
        t.name = "generation"
        t.start()
    }

    func submit(_ job: Job) {
        // A new reply starts unstopped; resetting here rather than when the job starts
        // keeps an Esc pressed while the prompt is being tokenized.
        if case .generate = job { cancel.reset() }
        lock.lock(); jobs.append(job); lock.unlock()
        wake.signal()
    }

    /// Stops the reply in progress (Esc): after its current token, or between prompt
    /// chunks while the prompt is still being read.
    func stop() { cancel.cancel() }

    /// Stops generation and waits (bounded) for the thread to end.
    func shutdown(timeout: TimeInterval = 5) {
        cancel.cancel()
        lock.lock(); jobs.removeAll(); lock.unlock()
        submit(.quit)
        _ = finished.wait(timeout: .now() + timeout)
    }

    private func loop() {
        while true {
            wake.wait()
            lock.lock()
            guard !jobs.isEmpty else { lock.unlock(); continue }
            let job = jobs.removeFirst()
            lock.unlock()
            switch job {
            case .quit:
                finished.signal()
                return
            case .load(let path):
                do {
                    let t0 = Date()
                    let m = try LoadedModel.load(path: path)
                    // A model without q8_0 attention (Spark) keeps f32, said in the notice.
                    let kvCache = kvCacheOverride ?? config.kvCache.flatMap(KVCacheType.init(rawValue:)) ?? .f32
                    var kvNotice: String? = nil
                    do { try m.useKVCache(kvCache) } catch { kvNotice = "\(error); using f32" }
                    let generator = Generator(model: m)
                    let (cushion, cushionNotice) = loadCushion(for: m, path: path)
                    source = LocalReplySource(generator: generator, cushion: cushion)
                    events.push(.loaded(m.info, contextLimit: m.config.contextLength, seconds: Date().timeIntervalSince(t0)))
                    var formatNotice: String? = nil
                    do { try ChatFormats.apply(formatOverride ?? config.format(for: m.info), to: m) } catch {
                        formatNotice = "\(error); using \(m.chatFormat.name)"
                    }
                    if let k = kvNotice { formatNotice = formatNotice.map { "\($0); \(k)" } ?? k }
                    events.push(.format(m.chatFormat.name + (m.chatFormat.isDialogueFrame ? " (base model)" : ""), notice: formatNotice))
                    if let n = cushionNotice { events.push(.notice(n, error: cushion == nil)) }
                    warmFormatPrefix(m, generator, cushion: cushion)
                } catch {
                    events.push(.loadFailed("\(error)"))
                }
            case .useRemote(let endpoint, let id):
                useRemote(endpoint, id)
            case .generate(let request):
                guard let s = source else { events.push(.failed("no model loaded")); continue }
                s.reply(request, cancel: cancel, events: events)
            }
        }
    }

    /// Reads the fixed start of the chat format (a dialogue frame's instruction and
    /// examples, ~120 tokens) into the model state right after loading, while the user
    /// types: the first reply then only prefills the user's turn (the generator reuses
    /// the common prefix), instead of paying ~0.5 s for the frame on the first message.
    private func warmFormatPrefix(_ m: LoadedModel, _ g: Generator, cushion: CushionFile?) {
        let prefix = m.chatPrompt([], addGenerationPrompt: false)
        guard !prefix.isEmpty || cushion != nil else { return }
        var p = SamplingParameters.greedy
        p.maxTokens = 0
        let ids = m.tokenizer.encode(prefix, addBOS: true)
        try? g.generate(tokens: cushion?.prefixing(ids, bos: m.tokenizer.bosId) ?? ids, parameters: p, cancel: cancel) { _ in }
    }

    /// The `--cushion` file for the model at `path`, or nil with a one-line reason: it is
    /// read and checked against this model's vocabulary, and used only with the model it
    /// was searched for (another model's outliers sit elsewhere).
    private func loadCushion(for m: LoadedModel, path: String) -> (CushionFile?, String?) {
        guard let file = cushionPath else { return (nil, nil) }
        do {
            let c = try CushionFile.read(file, vocabularySize: m.config.vocabularySize, bos: m.tokenizer.bosId)
            let name = URL(fileURLWithPath: path).lastPathComponent
            guard c.model == name else { return (nil, "cushion \(file) was searched for \(c.model), not \(name): not used") }
            return (c, "cushion: \(c.prefixIds.count)-token prefix cached before every reply")
        } catch {
            return (nil, "\(error); no cushion")
        }
    }

    /// Switching to a remote model asks its endpoint for the list first (the listing's short
    /// time limit), so a wrong name or a server that is down is said at once, and the
    /// model in use stays.
    private func useRemote(_ endpoint: RemoteEndpoint, _ id: String) {
        let t0 = Date()
        let listing = RemoteClient.listModels(endpoint)
        switch listing.result {
        case .failure(let e):
            events.push(.loadFailed("endpoint \(endpoint.name): \(e)"))
        case .success(let models):
            guard let m = models.first(where: { $0.id == id }) else {
                let served = models.prefix(5).map(\.id).joined(separator: ", ")
                events.push(.loadFailed("endpoint \(endpoint.name) has no model \(id) (it serves \(served.isEmpty ? "none" : served))"))
                return
            }
            source = RemoteReplySource(endpoint: endpoint, modelID: id, contextLength: m.contextLength ?? 0)
            events.push(.loaded(RemoteModels.info(m), contextLimit: m.contextLength ?? 0, seconds: Date().timeIntervalSince(t0)))
            events.push(.format("the server's chat template", notice: nil))
        }
    }
}
