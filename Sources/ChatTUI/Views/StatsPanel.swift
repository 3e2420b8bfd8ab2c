import Foundation
import Inference

/// The live stats panel: what the model computed for the token being generated and
/// for the reply so far. Numbers come straight from TokenStats, so a dense model
/// with sparsity off shows 100% active.
enum StatsPanel {
    static let levels: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// One cell per layer, its height the fraction of FFN neurons active.
    static func sparkline(_ s: TokenStats) -> String {
        String(
            zip(s.ffnActivePerLayer, s.ffnTotalPerLayer).map { a, t -> Character in
                let f = t == 0 ? 0 : Double(a) / Double(t)
                return levels[max(0, min(levels.count - 1, Int(f * Double(levels.count) - 1e-9)))]
            })
    }

    static let sparklineLabel = "layers    "

    static func si(_ v: Double) -> String {
        switch v {
        case 1e12...: return String(format: "%.2fT", v / 1e12)
        case 1e9...: return String(format: "%.2fG", v / 1e9)
        case 1e6...: return String(format: "%.2fM", v / 1e6)
        case 1e3...: return String(format: "%.1fk", v / 1e3)
        default: return String(format: "%.0f", v)
        }
    }

    static func pct(_ a: Double, _ b: Double) -> String { b == 0 ? "–" : String(format: "%.1f%%", 100 * a / b) }

    /// The panel's rows (label, value, role), so they can be tested without a canvas.
    /// `speculative`: the session's drafter setting (nil: off); `loadMs`: how long the
    /// model took to load.
    static func rows(
        _ live: LiveStats, model: String, sparsity: String, streaming: Bool,
        speculative: String? = nil, loadMs: Double? = nil, format: String? = nil
    ) -> [(String, StyleRole)] {
        var r: [(String, StyleRole)] = []
        r.append(("model     \(model)", .normal))
        if let ms = loadMs { r.append(("          " + String(format: "loaded in %.0f ms", ms), .dim)) }
        if let f = format { r.append(("format    \(f)", .normal)) }
        r.append(("sparsity  \(sparsity)", .normal))
        r.append(("speculate \(speculative ?? "off")", .normal))
        r.append(("", .normal))
        r.append((streaming ? "this token" : "last token", .title))
        if let t = live.last, t.ffnTotal > 0 {
            r.append(("FFN active \(pct(Double(t.ffnActive), Double(t.ffnTotal))) \(t.ffnActive)/\(t.ffnTotal)", .normal))
            r.append((sparklineLabel + sparkline(t), .barHigh))
            let attnLayers = t.attendedPerLayer.filter { $0 > 0 }.count
            r.append(("attended  \(t.attended) keys in \(attnLayers) layers", .normal))
            r.append(("          of \(t.contextLength) tokens", .dim))
            r.append(("FLOPs     \(si(t.flops)) of \(si(t.flopsDense))", .normal))
            r.append(("          \(pct(t.flops, t.flopsDense)) of dense", .dim))
        } else {
            r.append((live.remote ? "sparsity  n/a (remote engine)" : "–", .dim))
        }
        r.append(("", .normal))
        r.append((streaming ? "reply so far" : "last reply", .title))
        r.append(("tokens    \(live.tokens)", .normal))
        if let mode = live.speculative {
            // The drafter that produced this reply (the setting may have changed since).
            if mode != speculative { r.append(("drafter   \(mode)", .dim)) }
            let acc = live.speculativeAcceptance.map { String(format: "%.0f%%", $0 * 100) } ?? "–"
            r.append(("accepted  \(acc) (\(live.speculativeAccepted)/\(live.speculativeProposed) drafts)", .normal))
            r.append(("per pass  " + (live.tokensPerTargetPass.map { String(format: "%.2f tok / target pass", $0) } ?? "–"), .normal))
        }
        if live.hasSparsityStats {
            r.append(("FFN active \(pct(Double(live.ffnActiveSum), Double(live.ffnTotalSum))) mean", .normal))
            r.append(("FLOPs     \(si(live.flops)) of \(si(live.flopsDense))", .normal))
            r.append(("          \(pct(live.flops, live.flopsDense)) of dense", .dim))
        } else {
            r.append(("FFN active n/a", .dim))
            r.append(("FLOPs     n/a", .dim))
        }
        if live.remote {
            // The server's usage once the reply ends; its prompt speed is not visible from here.
            r.append(("usage     " + (live.finished ? "\(live.promptTokens) prompt + \(live.tokens) reply tok" : "–"), .normal))
        } else {
            r.append(("prompt    \(live.promptTokens) tok " + String(format: "%.1f tok/s", live.prefillTPS), .normal))
        }
        r.append(("generate  " + String(format: "%.1f tok/s", live.decodeTPS), .normal))
        r.append(("TTFT      " + (live.ttftMs.map { String(format: "%.0f ms", $0) } ?? "–"), .normal))
        let ctxFrac = live.contextLimit == 0 ? "" : " (\(pct(Double(live.contextUsed), Double(live.contextLimit))))"
        r.append(("context   \(live.contextUsed) / \(live.contextLimit)\(ctxFrac)", .normal))
        if !live.remote {
            r.append(("KV cache  " + (live.kvCacheBytes > 0 ? "\(si(Double(live.kvCacheBytes)))B" : "–"), .normal))
            if live.recurrentStateBytes > 0 { r.append(("recurrent \(si(Double(live.recurrentStateBytes)))B (constant)", .normal)) }
        }
        return r
    }

    static func render(
        _ live: LiveStats, model: String, sparsity: String, streaming: Bool, speculative: String?, loadMs: Double?,
        format: String? = nil, into canvas: inout Canvas, rect: Rect
    ) {
        guard !rect.isEmpty else { return }
        canvas.box(rect, title: "stats (F3)")
        let inner = rect.inset(1)
        guard !inner.isEmpty else { return }
        let clip = Rect(x: inner.x + 1, y: inner.y, width: inner.width - 1, height: inner.height)
        let all = rows(live, model: model, sparsity: sparsity, streaming: streaming, speculative: speculative, loadMs: loadMs, format: format)
        for (i, row) in all.enumerated() where i < inner.height {
            canvas.put(row.0, x: inner.x + 1, y: inner.y + i, role: row.1, clip: clip)
            // The per-layer cells, coloured by how much of the layer ran.
            if row.1 == .barHigh, let t = live.last {
                var x = inner.x + 1 + TextWidth.of(sparklineLabel)
                for (a, total) in zip(t.ffnActivePerLayer, t.ffnTotalPerLayer) {
                    let f = total == 0 ? 0 : Double(a) / Double(total)
                    let cell = String(levels[max(0, min(levels.count - 1, Int(f * Double(levels.count) - 1e-9)))])
                    x = canvas.put(cell, x: x, y: inner.y + i, role: f > 0.66 ? .barHigh : f > 0.33 ? .barMid : .barLow, clip: clip)
                }
            }
        }
    }
}
