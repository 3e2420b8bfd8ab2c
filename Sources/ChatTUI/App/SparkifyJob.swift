import Foundation
import Inference

/// A sparkify fit the model picker started: the same fit as `sparkchat sparkify`
/// (SparkifyRequest), on a thread of its own so the chat keeps serving keys, drawing and
/// replies. The UI loop reads `status` each turn; `cancel` stops the fit within a layer or
/// a calibration chunk, and the atomic write (temporary file, then rename) means a
/// cancelled or failed fit leaves no overlay file, half-written or whole.
final class SparkifyJob: @unchecked Sendable {
    enum Outcome: Equatable {
        case running
        case finished(path: String)
        case failed(String)
        case cancelled
    }

    struct Status {
        var done = 0, total = 0
        var stage = "starting"
        var outcome = Outcome.running
    }

    /// The model being fitted (catalog name) and the overlay it will write.
    let modelName: String
    let fraction: Double
    let overlayPath: String
    let started = Date()
    private let request: SparkifyRequest
    private let basePath: String
    private let lock = NSLock()
    private var current = Status()
    private var cancelRequested = false
    private let ended = DispatchSemaphore(value: 0)

    init(modelName: String, basePath: String, request: SparkifyRequest) {
        self.modelName = modelName; self.basePath = basePath; self.request = request
        fraction = request.fraction
        overlayPath = request.overlayPath(basePath: basePath)
    }

    func start() {
        let t = Thread { [self] in self.work() }
        t.stackSize = 8 << 20  // as the generation thread: the engine's forward pass runs here too
        t.name = "sparkify"
        t.start()
    }

    var status: Status { lock.lock(); defer { lock.unlock() }; return current }
    var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return cancelRequested }

    func cancel() { lock.lock(); cancelRequested = true; lock.unlock() }

    /// Cancels and waits up to `timeout` for the fit to stop (quitting the chat), then
    /// removes the temporary file in case the thread could not get to it.
    func cancelAndWait(timeout: TimeInterval) {
        cancel()
        if status.outcome == .running { _ = ended.wait(timeout: .now() + timeout) }
        unlink(SparkifyFitter.temporaryPath(for: overlayPath))
    }

    private func work() {
        let outcome: Outcome
        do {
            let path = try request.run(
                load: { try LoadedModel.load(path: basePath) },
                progress: { p in
                    self.update {
                        $0.done = p.done; $0.total = p.total; $0.stage = p.stage
                    }
                },
                isCancelled: { self.isCancelled })
            outcome = .finished(path: path)
        } catch is SparkifyFitter.Cancelled {
            outcome = .cancelled
        } catch {
            outcome = isCancelled ? .cancelled : .failed("\(error)")
        }
        update { $0.outcome = outcome }
        ended.signal()
    }

    private func update(_ change: (inout Status) -> Void) { lock.lock(); change(&current); lock.unlock() }

    /// The picker's progress line: bar, percent, stage, time left at the pace so far.
    func progressLine(barWidth: Int = 20) -> String {
        let s = status
        let frac = s.total > 0 ? min(1, Double(s.done) / Double(s.total)) : 0
        let filled = Int(frac * Double(barWidth))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: barWidth - filled)
        let left = ProgressBar.timeLeft(done: s.done, total: s.total, elapsed: Date().timeIntervalSince(started))
        return "\(bar) \(Int(frac * 100))% \(s.stage) · \(left.isFinite ? ProgressBar.clock(left) : "?") left"
    }
}
