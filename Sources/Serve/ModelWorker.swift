import Foundation
import Inference

/// One model as the server runs it: weights and tokenizer (chat format applied), and
/// each endpoint's sampling defaults. The command that starts the server builds it, so
/// the chat defaults and stop texts are the same as `generate --chat` and the TUI's.
public struct ServedModel: @unchecked Sendable {
    public var id: String
    public var loaded: LoadedModel
    /// Defaults of /v1/chat/completions, with the chat format's stop texts in `stop`.
    public var chatDefaults: SamplingParameters
    /// Defaults of /v1/completions (raw text, the plain sampler).
    public var completionDefaults: SamplingParameters
    public var sparsity: SparsityMode

    public init(
        id: String, loaded: LoadedModel, chatDefaults: SamplingParameters,
        completionDefaults: SamplingParameters, sparsity: SparsityMode = .off
    ) {
        self.id = id; self.loaded = loaded; self.chatDefaults = chatDefaults
        self.completionDefaults = completionDefaults; self.sparsity = sparsity
    }
}

/// What a running job tells the connection that asked for it. Called on the worker's
/// thread; the implementation hops to its own event loop.
protocol JobSink: AnyObject, Sendable {
    /// The prompt was read and fits: generation starts.
    func started(promptTokens: Int)
    func token(_ event: TokenEvent)
    func finished(_ summary: GenerationSummary)
    /// The job ended without generating (a bad prompt, a failed load, cancelled while waiting).
    func failed(_ error: APIError)
}

/// A request waiting for, or running on, a model's worker.
final class GenerationJob: @unchecked Sendable {
    let request: GenerationRequest
    let cancel = CancellationFlag()
    let sink: JobSink
    init(request: GenerationRequest, sink: JobSink) { self.request = request; self.sink = sink }
}

/// The worker of one model: a FIFO of jobs on its own thread. With `maxBatch` > 1 and
/// a model that has a batched decode, up to `maxBatch` jobs run together (continuous
/// batching, `BatchGenerator`): a new one is prefilled and joins between two steps,
/// each step decodes one token of every running job in one pass (every weight is read
/// once for all of them), a finished or cancelled one leaves at once. Otherwise jobs run
/// one at a time through the model's Generator (whose prefix cache serves a
/// conversation's next turn). The queue is bounded: a request beyond `maxWaiting`
/// waiting ones is refused at once (429) instead of waiting minutes.
final class ModelWorker: @unchecked Sendable {
    let id: String
    let maxWaiting: Int
    let maxBatch: Int
    private let load: @Sendable () throws -> ServedModel
    private var served: ServedModel?
    private var generator: Generator?
    private var batch: BatchGenerator?
    private let condition = NSCondition()
    private var queue: [GenerationJob] = []
    /// Jobs taken off the queue and not finished (guarded by `condition`).
    private var running = 0
    private var thread: Thread?
    /// The kernels share one process-wide compute pool (CKernels' ck_pool_run), which
    /// takes one caller at a time: the workers of different models take turns per pass.
    private static let engine = NSLock()

    init(
        id: String, maxWaiting: Int, maxBatch: Int = 1, preloaded: ServedModel? = nil,
        load: @escaping @Sendable () throws -> ServedModel
    ) {
        self.id = id; self.maxWaiting = maxWaiting; self.maxBatch = max(1, maxBatch); self.load = load; self.served = preloaded
    }

    /// Jobs waiting (not counting the running ones).
    var waiting: Int { condition.lock(); defer { condition.unlock() }; return queue.count }

    /// Jobs running (decoding together, or the one at a time).
    var active: Int { condition.lock(); defer { condition.unlock() }; return running }

    /// Queues `job`; false when the queue is full.
    func submit(_ job: GenerationJob) -> Bool {
        condition.lock(); defer { condition.unlock() }
        // Jobs cancelled while waiting leave; free batch slots take jobs at once.
        queue.removeAll { j in
            guard j.cancel.isCancelled else { return false }
            j.sink.failed(.server("cancelled while waiting"))
            return true
        }
        guard queue.count < maxWaiting + max(0, maxBatch - running) else { return false }
        queue.append(job)
        if thread == nil {
            let t = Thread { [self] in self.loop() }
            t.stackSize = 8 << 20  // the engine's recursion-free but frame-heavy forward pass
            t.name = "serve-\(id)"
            thread = t
            t.start()
        }
        condition.signal()
        return true
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && running == 0 { condition.wait() }
            var admitted: [GenerationJob] = []
            while running < maxBatch, !queue.isEmpty {
                admitted.append(queue.removeFirst())
                running += 1
            }
            condition.unlock()
            for job in admitted {
                ModelWorker.engine.lock()
                run(job)
                ModelWorker.engine.unlock()
            }
            if let batch, batch.count > 0 {
                ModelWorker.engine.lock()
                // A failed pass ends every job of the batch (each gets its done event).
                do { try batch.step() } catch {
                    FileHandle.standardError.write("sparkchat serve: batched decode failed: \(error)\n".data(using: .utf8)!)
                }
                ModelWorker.engine.unlock()
            }
        }
    }

    private func ended() {
        condition.lock(); running -= 1; condition.unlock()
    }

    /// Starts `job`: the whole generation when serial, its prefill and first token when batched.
    private func run(_ job: GenerationJob) {
        var batchedStart = false
        defer { if !batchedStart { ended() } }
        if job.cancel.isCancelled { job.sink.failed(.server("cancelled while waiting")); return }
        let model: ServedModel
        do {
            if served == nil { served = try load() }
            model = served!
        } catch {
            job.sink.failed(.server("cannot load model \(id): \(error)"))
            return
        }
        let generator = self.generator ?? Generator(model: model.loaded)
        self.generator = generator
        generator.sparsity = model.sparsity
        if maxBatch > 1, batch == nil {
            batch = BatchGenerator(model: model.loaded)
            batch?.sparsity = model.sparsity
        }
        let r = job.request
        let text: String
        let defaults: SamplingParameters
        switch r.endpoint {
        case .chat:
            text = model.loaded.chatPrompt(r.messages)
            defaults = model.chatDefaults
        case .completion:
            text = r.prompt
            defaults = model.completionDefaults
        }
        let tokens = model.loaded.tokenizer.encode(text, addBOS: true)
        let context = model.loaded.config.contextLength
        guard tokens.count < context else {
            job.sink.failed(
                .invalid(
                    "This model's maximum context length is \(context) tokens; the prompt has \(tokens.count)",
                    param: r.endpoint == .chat ? "messages" : "prompt", code: "context_length_exceeded"))
            return
        }
        job.sink.started(promptTokens: tokens.count)
        if let batch {
            do {
                try batch.add(tokens: tokens, parameters: r.parameters(defaults: defaults), cancel: job.cancel) { [self] event in
                    switch event {
                    case .token(let t): job.sink.token(t)
                    case .done(let s): job.sink.finished(s); ended()
                    }
                }
                batchedStart = true
            } catch {
                job.sink.failed(.server("generation failed: \(error)"))
            }
            return
        }
        do {
            try generator.generate(tokens: tokens, parameters: r.parameters(defaults: defaults), cancel: job.cancel) { event in
                switch event {
                case .token(let t): job.sink.token(t)
                case .done(let s): job.sink.finished(s)
                }
            }
        } catch {
            // The state may be half-written: start the next request from a clean one.
            generator.reset()
            job.sink.failed(.server("generation failed: \(error)"))
        }
    }
}

/// A model the server lists and can run: its id and the names a request may use for it.
public struct CatalogModel: Sendable {
    public var id: String
    public var aliases: [String]
    public var contextLength: Int
    public var created: Int
    public var load: @Sendable () throws -> ServedModel

    public init(
        id: String, aliases: [String] = [], contextLength: Int, created: Int,
        load: @escaping @Sendable () throws -> ServedModel
    ) {
        self.id = id; self.aliases = aliases; self.contextLength = contextLength; self.created = created; self.load = load
    }
}

/// The models of one server: the one loaded at start (the default for a request that
/// names none) and the rest of the catalog, each loaded by its first request, each
/// with its own worker.
public final class ModelRegistry: @unchecked Sendable {
    public let catalog: [CatalogModel]
    let defaultId: String
    private let lock = NSLock()
    private var workers: [String: ModelWorker] = [:]
    private let maxWaiting: Int
    private let maxBatch: Int

    /// `maxBatch`: jobs of one model decoded together (1: one at a time).
    public init(loaded: ServedModel, catalog: [CatalogModel], maxWaiting: Int, maxBatch: Int = 1) {
        self.catalog = catalog
        self.defaultId = loaded.id
        self.maxWaiting = maxWaiting
        self.maxBatch = maxBatch
        workers[loaded.id] = ModelWorker(id: loaded.id, maxWaiting: maxWaiting, maxBatch: maxBatch, preloaded: loaded) { loaded }
    }

    /// Requests waiting on the default model's worker (for /health).
    var waiting: Int {
        lock.lock(); defer { lock.unlock() }
        return workers[defaultId]?.waiting ?? 0
    }

    /// Requests running on the default model's worker (for /health).
    var running: Int {
        lock.lock(); defer { lock.unlock() }
        return workers[defaultId]?.active ?? 0
    }

    /// The catalog entry a request's `model` names (id or alias, any case).
    func entry(named name: String) -> CatalogModel? {
        let lower = name.lowercased()
        return catalog.first { $0.id.lowercased() == lower || $0.aliases.contains { $0.lowercased() == lower } }
    }

    /// The worker for `name` (nil: the default model); nil when no such model exists.
    func worker(for name: String?) -> ModelWorker? {
        let id: String
        var load: (@Sendable () throws -> ServedModel)?
        if let name {
            guard let e = entry(named: name) else { return nil }
            id = e.id; load = e.load
        } else {
            id = defaultId
        }
        lock.lock(); defer { lock.unlock() }
        if let w = workers[id] { return w }
        guard let load else { return nil }
        let w = ModelWorker(id: id, maxWaiting: maxWaiting, maxBatch: maxBatch, load: load)
        workers[id] = w
        return w
    }
}
