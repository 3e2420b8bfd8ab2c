import Foundation
import Inference

/// The picker's sparkify action: asking for the fraction, starting the background fit
/// (SparkifyJob), following it from the UI loop, and listing the overlay it wrote.
extension ChatApp {
    /// Keys of the picker that belong to sparkify; true when the key was used here.
    func handleSparkifyKey(_ key: Key, _ p: inout ModelPicker) -> Bool {
        if let entry = p.fractionEntry {
            switch key {
            case .enter:
                p.fractionEntry = nil
                if let m = p.choice { startSparkify(m, fraction: entry, picker: &p) }
            case .escape: p.fractionEntry = nil
            case .left, .up: p.stepFraction(-1)
            case .right, .down: p.stepFraction(1)
            case .backspace: p.fractionEntry = String(entry.dropLast())
            case .text(let t) where t.allSatisfy({ $0.isNumber || $0 == "." }):
                if entry.count + t.count <= 8 { p.fractionEntry = entry + t }
            default: break
            }
            return true
        }
        switch key {
        case .escape where sparkifyJob != nil:
            sparkifyJob?.cancel()
            say("cancelling the sparkify fit…")
            return true
        case .text("s"):
            guard let m = p.choice else { return true }
            if let j = sparkifyJob {
                say("a sparkify fit of \(j.modelName) is running (Esc cancels it)", error: true)
            } else if !ModelPicker.canSparkify(m) {
                say("sparkify fits dense Gemma models here; \(m.name) is \(m.sparsity == ModelSparsity.dense ? m.architecture : m.sparsity)", error: true)
            } else {
                p.fractionEntry = ModelPicker.fractions[0]
            }
            return true
        default: return false
        }
    }

    private func startSparkify(_ m: ModelInfo, fraction text: String, picker p: inout ModelPicker) {
        guard let f = Double(text), f > 0, f < 1 else {
            say("the fraction must be a number in (0, 1), e.g. 0.5", error: true)
            return
        }
        let request = SparkifyRequest(
            fraction: f, calibration: config.sparkifyCalibration,
            tokens: config.sparkifyTokens ?? SparkifyRequest.defaultTokens)
        let job = SparkifyJob(modelName: m.name, basePath: m.path, request: request)
        if FileManager.default.fileExists(atPath: job.overlayPath) {
            // Already fitted at this fraction: point at it instead of fitting again.
            let name = ChatApp.catalogName(job.overlayPath)
            if let i = p.models.firstIndex(where: { $0.name == name }) { p.selected = i }
            say("\(m.name) already has this overlay: \(name)")
            return
        }
        sparkifyJob = job
        job.start()
        say("sparkify \(m.name) at \(text): fitting in the background (Esc in the picker cancels)")
    }

    /// Called each turn of the UI loop: true when something changed on screen.
    func pollSparkify() -> Bool {
        guard let job = sparkifyJob else { return false }
        let s = job.status
        switch s.outcome {
        case .running:
            // Redraw about 4 times a second (the time left changes even between steps).
            let now = Date()
            guard now.timeIntervalSince(sparkifyDrawn) > 0.25 else { return false }
            sparkifyDrawn = now
            return true
        case .finished(let path):
            sparkifyJob = nil
            let name = ChatApp.catalogName(path)
            if case .picker(var p) = overlay {
                p.models = ModelCatalog.scan()
                if let i = p.models.firstIndex(where: { $0.name == name }) { p.selected = i }
                overlay = .picker(p)
            }
            say(String(format: "sparkified %@ in %.1f s: %@ (Enter in the picker switches to it)", job.modelName, Date().timeIntervalSince(job.started), name))
        case .cancelled:
            sparkifyJob = nil
            say("sparkify of \(job.modelName) cancelled; no overlay written")
        case .failed(let why):
            sparkifyJob = nil
            say("sparkify of \(job.modelName) failed: \(why)", error: true)
        }
        return true
    }
}
