import Foundation
import XCTest

@testable import Inference

/// `sparkchat prune` on the tiny Gemma 3 fixture (F16 GGUF): the pruned file loads, each
/// layer matrix holds exactly the zeros the method asks for (checked against a naive
/// selection computed here), everything else is byte-identical, and the pruned model's
/// logits are those of the dense model with the same weights zeroed. Also: the stored
/// types keep a zero exact, hostile inputs give one line, an interrupted write leaves nothing.
final class PruneTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sparkchat-prune-tests-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    var fixture: String {
        get throws {
            let p = Fixtures.url("family/gemma3/model-f16.gguf").path
            guard FileManager.default.fileExists(atPath: p) else { throw XCTSkip("fixture \(p) missing") }
            return p
        }
    }

    func values(_ g: GGUFFile, _ name: String) -> [Float] {
        let t = g.tensors[name]!
        return PrunedStorage.dequantize(WeightMatrix(type: t.type, rows: t.rowCount, cols: t.rowLength, data: g.pointer(t)))
    }

    func bytes(_ g: GGUFFile, _ name: String) -> [UInt8] {
        let t = g.tensors[name]!
        return Array(UnsafeRawBufferPointer(start: g.pointer(t), count: t.byteCount))
    }

    func isLayerMatrix(_ name: String) -> Bool {
        ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"].contains { name.hasSuffix(".\($0).weight") }
    }

    /// The k smallest magnitudes by a plain sort (ties: the lower index first).
    func naiveMask(_ xs: [Float], k: Int) -> [Bool] {
        let order = xs.indices.sorted { (abs(xs[$0]), $0) < (abs(xs[$1]), $1) }
        var mask = [Bool](repeating: false, count: xs.count)
        for i in order.prefix(k) { mask[i] = true }
        return mask
    }

    func prune(_ method: PruneMethod, to name: String = "pruned.gguf") throws -> (path: String, summary: ModelPruner.Summary) {
        let out = directory.appendingPathComponent(name).path
        let s = try ModelPruner.prune(modelPath: try fixture, method: method, output: out)
        return (out, s)
    }

    func testMagnitudePerLayerZeroesExactlyTheSmallestFraction() throws {
        let base = try GGUFFile(path: try fixture)
        for f in [0.25, 0.5, 0.75] {
            let (path, summary) = try prune(.magnitude(fraction: f, scope: .layer))
            let pruned = try GGUFFile(path: path)
            var matrices = 0, zerosBefore = 0
            for name in base.tensorNames where isLayerMatrix(name) {
                matrices += 1
                let orig = values(base, name), got = values(pruned, name)
                // F16 rounds a few tiny weights to zero: those are among the smallest, so
                // the count of zeros afterwards is still exactly k.
                let k = Int((f * Double(orig.count)).rounded())
                zerosBefore += orig.filter { $0 == 0 }.count
                XCTAssertLessThan(orig.filter { $0 == 0 }.count, k / 10)
                let mask = naiveMask(orig, k: k)
                XCTAssertEqual(got.filter { $0 == 0 }.count, k, "\(name) at \(f)")
                for i in orig.indices {
                    if mask[i] { XCTAssertEqual(got[i], 0, "\(name)[\(i)]") } else { XCTAssertEqual(got[i].bitPattern, orig[i].bitPattern, "\(name)[\(i)]") }
                }
                XCTAssertEqual(pruned.tensors[name]!.type, base.tensors[name]!.type, "F16 keeps its type")
            }
            XCTAssertEqual(matrices, 7 * (try base.int("gemma3.block_count")))
            XCTAssertEqual(summary.zerosBefore, zerosBefore)
            XCTAssertEqual(Double(summary.zerosAfter) / Double(summary.weights), f, accuracy: 1e-3)
        }
    }

    func testGlobalScopeUsesOneThresholdAcrossLayers() throws {
        let base = try GGUFFile(path: try fixture)
        let (path, summary) = try prune(.magnitude(fraction: 0.5, scope: .global))
        let pruned = try GGUFFile(path: path)
        let names = base.tensorNames.filter(isLayerMatrix)
        let all = names.flatMap { values(base, $0) }
        let k = Int((0.5 * Double(all.count)).rounded())
        let mask = naiveMask(all, k: k)
        let got = names.flatMap { values(pruned, $0) }
        XCTAssertEqual(summary.zerosAfter, k)
        XCTAssertEqual(got.indices.filter { got[$0] == 0 }, mask.indices.filter { mask[$0] })
        // One threshold: the matrices' fractions differ (their weight scales differ).
        let fractions = names.map { n in Double(values(pruned, n).filter { $0 == 0 }.count) / Double(values(base, n).count) }
        XCTAssertGreaterThan(fractions.max()! - fractions.min()!, 0.01)
        XCTAssertEqual(try pruned.string("sparkchat.prune.scope"), "global")
    }

    func testTwoOfFourKeepsTheTwoLargestOfEveryGroupAlongTheInput() throws {
        let base = try GGUFFile(path: try fixture)
        let (path, _) = try prune(.nOfM(n: 2, m: 4))
        let pruned = try GGUFFile(path: path)
        for name in base.tensorNames where isLayerMatrix(name) {
            let t = base.tensors[name]!
            XCTAssertEqual(t.rowLength % 4, 0)
            let orig = values(base, name), got = values(pruned, name)
            for g in stride(from: 0, to: orig.count, by: 4) {
                let group = Array(orig[g..<g + 4]).enumerated().sorted { (abs($0.1), -$0.0) > (abs($1.1), -$1.0) }
                let kept = Set(group.prefix(2).map(\.offset))
                for j in 0..<4 {
                    if kept.contains(j) {
                        XCTAssertEqual(got[g + j].bitPattern, orig[g + j].bitPattern, "\(name) group \(g)")
                    } else {
                        XCTAssertEqual(got[g + j], 0, "\(name) group \(g)")
                    }
                }
            }
        }
        XCTAssertEqual(try pruned.string("sparkchat.prune.method"), "2:4")
    }

    func testEverythingElseIsCopiedByteForByte() throws {
        let base = try GGUFFile(path: try fixture)
        let (path, _) = try prune(.nOfM(n: 2, m: 4))
        let pruned = try GGUFFile(path: path)
        XCTAssertEqual(Set(pruned.tensorNames), Set(base.tensorNames))
        for name in base.tensorNames where !isLayerMatrix(name) {
            XCTAssertEqual(pruned.tensors[name]!.type, base.tensors[name]!.type, name)
            XCTAssertEqual(pruned.tensors[name]!.dims, base.tensors[name]!.dims, name)
            XCTAssertEqual(bytes(pruned, name), bytes(base, name), name)
        }
        for key in base.metadataKeys {
            XCTAssertEqual(pruned.metadata[key], base.metadata[key], key)
            let a = base.metadataByteRanges[key]!, b = pruned.metadataByteRanges[key]!
            XCTAssertEqual(Array(pruned.file.bytes[b]), Array(base.file.bytes[a]), "raw bytes of \(key)")
        }
        XCTAssertEqual(try pruned.string("sparkchat.prune.base"), "model-f16.gguf")
        XCTAssertEqual(pruned.metadata["sparkchat.prune.pruned"]?.intValue, pruned.metadata["sparkchat.prune.weights"]!.intValue! / 2)

        // Pruned again: the earlier sparkchat.prune.* keys are replaced, not duplicated.
        let again = directory.appendingPathComponent("again.gguf").path
        _ = try ModelPruner.prune(modelPath: path, method: .magnitude(fraction: 0.75, scope: .layer), output: again)
        let twice = try GGUFFile(path: again)
        XCTAssertEqual(try twice.string("sparkchat.prune.method"), "magnitude")
        XCTAssertEqual(try twice.string("sparkchat.prune.base"), "pruned.gguf")
    }

    /// The pruned file's logits against the dense model with the naive mask applied to
    /// float32 copies of the weights: the same numbers, from differently stored weights.
    func testPrunedLogitsEqualDenseComputationWithTheSameZeros() throws {
        let base = try GGUFFile(path: try fixture)
        let method = PruneMethod.magnitude(fraction: 0.5, scope: .layer)
        let (path, _) = try prune(method)
        let dense = directory.appendingPathComponent("masked-f32.gguf").path
        try GGUFRewriter.write(source: base, to: dense, metadata: []) { t in
            guard self.isLayerMatrix(t.name) else { return .copy }
            return .replace(type: .f32) {
                let xs = self.values(base, t.name)
                let mask = self.naiveMask(xs, k: Int((0.5 * Double(xs.count)).rounded()))
                let masked = xs.indices.map { mask[$0] ? Float(0) : xs[$0] }
                return masked.withUnsafeBytes { Array($0) }
            }
        }
        let a = try LoadedModel.load(path: path), b = try LoadedModel.load(path: dense), orig = try LoadedModel.load(path: try fixture)
        let ids = [2] + (0..<23).map { 10 + $0 * 37 % 200 }
        func logits(_ m: LoadedModel) throws -> [Float] {
            try m.model.forward(ids, state: m.model.makeState(capacity: 64), logitRows: [3, 11, 23], sparsity: .off, stats: nil)
        }
        let la = try logits(a), lb = try logits(b), lo = try logits(orig)
        let range = (lb.max()! - lb.min()!)
        let diff = zip(la, lb).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(diff / range, 1e-4, "pruned vs dense with the same zeros")
        XCTAssertGreaterThan(zip(la, lo).map { abs($0 - $1) }.max()! / range, 1e-2, "pruning changed the model")
        XCTAssertTrue(try ModelCatalog.describeGGUF(path).quantization.contains("pruned"))
    }

    /// Zero codes in place for each quantized type: exactly the chosen weights read back
    /// as 0, every other weight keeps its value; Q4_K is re-encoded as Q8_0.
    func testQuantizedTypesHoldAnExactZero() throws {
        var rng = SplitMix64(seed: UInt64(ProcessInfo.processInfo.environment["SPARKCHAT_TEST_SEED"] ?? "") ?? 7)  // seeded: a failure repeats
        for type in [GGMLType.q8_0, .q4_0, .q5_0, .q6_K, .q4_K, .q5_K, .q4_1, .bf16, .f32] {
            let cols = 512, rows = 2
            var raw = (0..<rows * type.rowBytes(cols)!).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Sane scales (random bytes may be NaN halves).
            let dOffsets: [Int]
            switch type {
            case .q6_K: dOffsets = [208]
            case .q4_K, .q5_K, .q4_1: dOffsets = [0, 2]
            case .q8_0, .q4_0, .q5_0: dOffsets = [0]
            default: dOffsets = []
            }
            for b in stride(from: 0, to: raw.count, by: type.typeSize) { for o in dOffsets { raw[b + o] = 0x00; raw[b + o + 1] = 0x3C } }
            if type == .bf16 { for i in stride(from: 1, to: raw.count, by: 2) { raw[i] = 0x3F } }
            if type == .f32 { for i in stride(from: 3, to: raw.count, by: 4) { raw[i] = 0x3F } }
            try raw.withUnsafeBytes { p in
                let m = WeightMatrix(type: type, rows: rows, cols: cols, data: p.baseAddress!)
                let xs = PrunedStorage.dequantize(m)
                let mask = xs.indices.map { _ in Bool.random(using: &rng) }
                let out = try PrunedStorage.encode(m, name: "t", values: xs, zeroMask: mask)
                let stored = try PrunedStorage.storedType(for: type)
                XCTAssertEqual(stored, [.q4_K, .q5_K, .q4_1].contains(type) ? .q8_0 : type)
                let back = out.bytes.withUnsafeBytes { PrunedStorage.dequantize(WeightMatrix(type: stored, rows: rows, cols: cols, data: $0.baseAddress!)) }
                for i in xs.indices {
                    if mask[i] {
                        XCTAssertEqual(back[i], 0, "\(type.name)[\(i)]")
                    } else if stored == type {
                        XCTAssertEqual(back[i].bitPattern, xs[i].bitPattern, "\(type.name)[\(i)]")
                    } else {
                        XCTAssertEqual(back[i], xs[i], accuracy: 0.02 * (xs.map(abs).max()!), "\(type.name)[\(i)]")
                    }
                }
                if stored == type {
                    // Only the pruned weights' blocks changed.
                    let bs = type.typeSize, per = type.blockSize
                    for blk in 0..<(raw.count / bs) where !mask[(blk * per)..<((blk + 1) * per)].contains(true) {
                        XCTAssertEqual(Array(out.bytes[blk * bs..<(blk + 1) * bs]), Array(raw[blk * bs..<(blk + 1) * bs]))
                    }
                }
            }
        }
    }

    /// A safetensors checkpoint directory: the copy is a directory whose layer matrices
    /// hold the 2:4 pattern in their own dtype, with every other byte and file unchanged.
    func testCheckpointDirectoryIsPrunedIntoADirectoryCopy() throws {
        let source = Fixtures.url("family/gemma3")
        guard FileManager.default.fileExists(atPath: source.appendingPathComponent("model.safetensors").path) else { throw XCTSkip("fixture missing") }
        let out = directory.appendingPathComponent("gemma3.prune-2of4").path
        let summary = try ModelPruner.prune(modelPath: source.path, method: .nOfM(n: 2, m: 4), output: out)
        XCTAssertEqual(summary.zerosAfter, summary.weights / 2)
        let a = try SafetensorsFile(path: source.appendingPathComponent("model.safetensors").path)
        let b = try SafetensorsFile(path: out + "/model.safetensors")
        XCTAssertEqual(a.file.count, b.file.count)
        var pruned = 0
        for name in a.tensorNames {
            let t = a.tensors[name]!, u = b.tensors[name]!
            let old = Array(UnsafeRawBufferPointer(start: a.pointer(t), count: t.byteCount))
            let new = Array(UnsafeRawBufferPointer(start: b.pointer(u), count: u.byteCount))
            guard CheckpointPruner.layerIndex(name: name, shape: t.shape) != nil else {
                XCTAssertEqual(old, new, name)
                continue
            }
            pruned += 1
            let m = WeightMatrix(type: u.dtype.ggmlType!, rows: u.shape[0], cols: u.shape[1], data: b.pointer(u))
            let xs = PrunedStorage.dequantize(m)
            for g in stride(from: 0, to: xs.count, by: 4) { XCTAssertEqual(xs[g..<g + 4].filter { $0 == 0 }.count, 2, "\(name) group \(g)") }
        }
        XCTAssertGreaterThanOrEqual(pruned, 7)
        for file in ["config.json", "tokenizer.json"] {
            XCTAssertEqual(
                FileManager.default.contents(atPath: source.appendingPathComponent(file).path),
                FileManager.default.contents(atPath: out + "/" + file), file)
        }
        let m = try LoadedModel.load(path: out)
        XCTAssertEqual(m.info.format, "safetensors")
        _ = try m.model.forward([2, 10, 11], state: m.model.makeState(capacity: 8), logitRows: [2], sparsity: .off, stats: nil)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["gemma3.prune-2of4"], "no temporary left")
    }

    func testHostileInputsGiveOneLineErrors() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: try fixture))
        let out = directory.appendingPathComponent("out.gguf").path
        var cases: [(String, Data)] = [
            ("truncated header", whole.prefix(100)), ("truncated data", whole.prefix(whole.count - 1000)),
            ("not gguf", Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131) }))
        ]
        var noLayers = GGUFHostileFileTests.sampleWriter()
        cases.append(("no layer matrices", Data(noLayers.bytes())))
        for (label, data) in cases {
            let input = directory.appendingPathComponent("\(label).gguf").path
            try data.write(to: URL(fileURLWithPath: input))
            do {
                _ = try ModelPruner.prune(modelPath: input, method: .nOfM(n: 2, m: 4), output: out)
                XCTFail("\(label): accepted")
            } catch let e as EngineError {
                XCTAssertFalse(e.description.contains("\n"), label)
                XCTAssertLessThan(e.description.count, 300, label)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), label)
        }
        XCTAssertThrowsError(try ModelPruner.prune(modelPath: try fixture, method: .nOfM(n: 2, m: 4), output: try fixture))
        for bad in ["magnitude:1", "magnitude:0", "magnitude:x", "4:4", "0:4", "2:4:8", "3"] {
            XCTAssertThrowsError(try PruneMethod.parse(bad), bad)
        }
    }

    func testInterruptedWriteLeavesNoFile() throws {
        let out = directory.appendingPathComponent("interrupted.gguf").path
        var polls = 0
        XCTAssertThrowsError(
            try ModelPruner.prune(
                modelPath: try fixture, method: .magnitude(fraction: 0.5, scope: .layer), output: out,
                isCancelled: {
                    polls += 1
                    return polls > 5
                })
        ) { XCTAssertTrue($0 is GGUFRewriter.Cancelled) }
        XCTAssertGreaterThan(polls, 5)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
    }
}
