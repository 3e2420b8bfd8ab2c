import ArgumentParser
import Foundation
import Inference
import Serve

/// `sparkchat bench --twin NAME ... [--depth N]`: decode speed of random-weight speed
/// twins (SpeedTwin: Gemma 2 2B's shapes, dense and Spark), built in memory, at context
/// depth 0 and `--depth`, in one run. Rounds alternate the twins so that a busy machine
/// slows all of them alike; the median round is reported. Then one profiled decode per
/// twin and depth says where a token's time goes and what bandwidth the Spark FFN's
/// gathers reach (bytes they read / their time).
struct TwinBench {
    let names: [String]
    let depths: [Int]
    let tokens: Int
    let repetitions: Int
    let json: Bool

    struct Result {
        var name: String, depth: Int
        var runs: [Double] = []
        var sections: [(String, Double)] = []  // ms per token
        var activeFraction = 1.0, keysPerLayer = 0.0, maxKeys = 0
        var gatherBytes = 0.0, cacheBytes = 0.0, bytes = 0.0  // per token: gathers, KV cache, all
    }

    func run() throws {
        var twins: [SpeedTwin] = [], buildSeconds: [Double] = []
        for n in names {
            let t0 = Date()
            twins.append(try SpeedTwin.build(n))
            buildSeconds.append(Date().timeIntervalSince(t0))
            if !json { emit(String(format: "built %@ in %.1f s", n as NSString, buildSeconds.last!)) }
        }
        let bandwidth = ComputePool.shared.measureReadBandwidth()
        var results: [Result] = []
        for depth in depths {
            let states = try twins.map { t -> ModelState in
                let s = t.model.makeState(capacity: depth + tokens + 16)
                try SpeedTwin.fillContext(s, depth: depth)
                return s
            }
            var rs = twins.map { Result(name: $0.name, depth: depth) }
            for (i, t) in twins.enumerated() { _ = try decode(t, states[i], depth: depth, count: 2) }  // warm-up: page in
            for _ in 0..<repetitions {
                for (i, t) in twins.enumerated() { rs[i].runs.append(try decode(t, states[i], depth: depth, count: tokens).tps) }
            }
            for (i, t) in twins.enumerated() {
                let p = DecodeProfile.shared
                p.reset(); p.enabled = true
                let d = try decode(t, states[i], depth: depth, count: tokens)
                p.enabled = false
                rs[i].sections = p.order.map { ($0, 1000 * p.seconds[$0]! / Double(tokens)) }
                let st = d.stats
                rs[i].activeFraction = Double(st.reduce(0) { $0 + $1.ffnActive }) / Double(max(1, st.reduce(0) { $0 + $1.ffnTotal }))
                let layers = Double(t.model.config.layerCount)
                rs[i].keysPerLayer = Double(st.reduce(0) { $0 + $1.attended }) / Double(st.count) / layers
                rs[i].maxKeys = st.flatMap(\.attendedPerLayer).max() ?? 0
                rs[i].gatherBytes = Double(st.reduce(0) { $0 + t.gatherBytes($1) }) / Double(st.count)
                rs[i].cacheBytes = Double(st.reduce(0) { $0 + t.cacheBytes($1) }) / Double(st.count)
                rs[i].bytes = Double(t.layerStreamBytes + t.lmHeadBytes) + rs[i].gatherBytes + rs[i].cacheBytes
            }
            results += rs
        }
        report(twins, buildSeconds, results, bandwidth)
    }

    /// `count` greedy tokens from `depth` (the state is rewound there first).
    private func decode(_ t: SpeedTwin, _ s: ModelState, depth: Int, count: Int) throws -> (tps: Double, stats: [TokenStats]) {
        guard s.truncate(to: depth) else { throw ValidationError("cannot rewind the twin's cache") }
        var tok = 1000, all: [TokenStats] = []
        let t0 = Date()
        for _ in 0..<count {
            var stats: [TokenStats] = []
            let l = try t.model.forward([tok], state: s, logitRows: [0], sparsity: .off, stats: &stats)
            tok = Sampler.argmax(l)
            all += stats
        }
        return (Double(count) / Date().timeIntervalSince(t0), all)
    }

    private static func median(_ a: [Double]) -> Double { a.isEmpty ? 0 : a.sorted()[a.count / 2] }

    /// GB/s of `bytes` read in `ms` milliseconds.
    private static func rate(_ bytes: Double, _ ms: Double) -> Double { ms > 0 ? bytes / (ms / 1000) / 1e9 : 0 }

    private func section(_ r: Result, _ name: String) -> Double { r.sections.first { $0.0 == name }?.1 ?? 0 }

    private func report(_ twins: [SpeedTwin], _ buildSeconds: [Double], _ results: [Result], _ bandwidth: Double) {
        let byName = Dictionary(uniqueKeysWithValues: twins.map { ($0.name, $0) })
        func speedup(_ r: Result) -> Double? {
            guard r.name != "gemma2-2b", let base = results.first(where: { $0.name == "gemma2-2b" && $0.depth == r.depth }) else { return nil }
            return Self.median(r.runs) / Self.median(base.runs)
        }
        /// Dense bytes per token over this twin's: the speed-up a purely bandwidth-bound
        /// engine would show.
        func byteRatio(_ r: Result) -> Double? {
            guard r.name != "gemma2-2b", let base = results.first(where: { $0.name == "gemma2-2b" && $0.depth == r.depth }) else { return nil }
            return base.bytes / r.bytes
        }
        /// Bandwidths a profiled token reached: the Spark gathers (up rows, down rows and
        /// both), the predictor, the dense FFN and the LM head.
        func rates(_ r: Result) -> [(String, Double)] {
            let t = byName[r.name]!
            var out: [(String, Double)] = [("lm_head", Self.rate(Double(t.lmHeadBytes), section(r, "lm head")))]
            if t.neuronRowBytes != nil {
                out += [
                    ("gather", Self.rate(r.gatherBytes, section(r, "ffn: gathered up+down rows"))),
                    ("predictor", Self.rate(Double(t.predictorBytes), section(r, "ffn: predictor+top-k")))
                ]
            } else {
                out.append(("ffn", Self.rate(Double(t.ffnBytes), section(r, "ffn"))))
            }
            return out
        }
        if json {
            let twinObjects = zip(twins, buildSeconds).map { t, s in
                JSONText.object([
                    ("name", JSONText.string(t.name)), ("quantization", JSONText.string(t.quantization)),
                    ("parameters", String(t.parameterCount)), ("build_s", JSONText.number(s)),
                    ("layer_stream_bytes", String(t.layerStreamBytes)), ("lm_head_bytes", String(t.lmHeadBytes))
                ])
            }
            let resultObjects = results.map { r in
                JSONText.object([
                    ("name", JSONText.string(r.name)), ("depth", String(r.depth)),
                    ("decode_tps", JSONText.number(Self.median(r.runs))),
                    ("decode_tps_runs", "[" + r.runs.map { JSONText.number($0) }.joined(separator: ",") + "]"),
                    ("speedup_vs_dense", speedup(r).map { JSONText.number($0) } ?? "null"),
                    ("ffn_active_fraction", JSONText.number(r.activeFraction)),
                    ("attended_keys_per_layer", JSONText.number(r.keysPerLayer)), ("attended_keys_max", String(r.maxKeys)),
                    ("gather_bytes_per_token", JSONText.number(r.gatherBytes)),
                    ("cache_bytes_per_token", JSONText.number(r.cacheBytes)), ("bytes_per_token", JSONText.number(r.bytes)),
                    ("byte_ratio_vs_dense", byteRatio(r).map { JSONText.number($0) } ?? "null"),
                    ("effective_gbs", JSONText.number(r.bytes * Self.median(r.runs) / 1e9)),
                    ("ms_per_token_by_section", JSONText.object(r.sections.map { ($0.0, JSONText.number($0.1)) })),
                    ("gbs", JSONText.object(rates(r).map { ($0.0, JSONText.number($0.1)) }))
                ])
            }
            emit(
                JSONText.object([
                    ("threads", String(ComputePool.shared.threads)), ("bandwidth_gbs", JSONText.number(bandwidth / 1e9)),
                    ("gen_tokens", String(tokens)), ("repetitions", String(repetitions)),
                    ("twins", "[" + twinObjects.joined(separator: ",") + "]"),
                    ("results", "[" + resultObjects.joined(separator: ",") + "]")
                ]))
            return
        }
        emit(String(format: "threads: %d, memory read bandwidth: %.1f GB/s", ComputePool.shared.threads, bandwidth / 1e9))
        for t in twins {
            emit(
                String(
                    format: "%@: %.2f B parameters, %@; reads %.0f MB of layers + %.0f MB LM head per token (before gathers)",
                    t.name as NSString, Double(t.parameterCount) / 1e9, t.quantization as NSString,
                    Double(t.layerStreamBytes) / 1e6, Double(t.lmHeadBytes) / 1e6))
        }
        emit("")
        emit("| twin | depth | decode tok/s | ms/token | speed-up | bytes ratio | MB read/token | active FFN | keys/layer (max) | gathers MB/token |")
        emit("|---|---|---|---|---|---|---|---|---|---|")
        for r in results {
            let tps = Self.median(r.runs)
            emit(
                String(
                    format: "| %@ | %d | %.2f | %.1f | %@ | %@ | %.0f | %.1f%% | %.0f (%d) | %.1f |", r.name as NSString, r.depth, tps, 1000 / tps,
                    (speedup(r).map { String(format: "%.2fx", $0) } ?? "—") as NSString,
                    (byteRatio(r).map { String(format: "%.2fx", $0) } ?? "—") as NSString, r.bytes / 1e6, 100 * r.activeFraction,
                    r.keysPerLayer, r.maxKeys, r.gatherBytes / 1e6))
        }
        for r in results {
            emit("")
            let total = r.sections.reduce(0) { $0 + $1.1 }
            emit(String(format: "%@ @ depth %d: %.1f ms per profiled token", r.name as NSString, r.depth, total))
            for (k, ms) in r.sections {
                emit(String(format: "  %-24@ %8.2f ms  %5.1f%%", k as NSString, ms, 100 * ms / max(total, 1e-9)))
            }
            emit("  GB/s: " + rates(r).map { String(format: "%@ %.1f", $0.0 as NSString, $0.1) }.joined(separator: ", "))
        }
    }
}
