import Foundation

/// Pruning of a Hugging Face checkpoint directory: the copy is a directory beside it with
/// every file copied, and in each safetensors file the layer matrices' bytes replaced by
/// their pruned values in the same dtype (F32, F16 and BF16 all store an exact zero), so
/// the headers, sizes and every other tensor stay byte-identical. Made in a hidden
/// temporary directory and renamed into place once complete.
enum CheckpointPruner {
    /// Layer matrices by Hugging Face's names: `….layers.N.self_attn.{q,k,v,o}_proj.weight`
    /// and `….layers.N.mlp.{gate,up,down}_proj.weight` (any prefix, so Gemma 3's
    /// `language_model.` too), two dimensions.
    static func layerIndex(name: String, shape: [Int]) -> Int? {
        guard shape.count == 2 else { return nil }
        let parts = name.split(separator: ".").map(String.init)
        guard parts.count >= 5, let li = parts.firstIndex(of: "layers"), li + 3 < parts.count,
            let layer = Int(parts[li + 1]), parts.last == "weight"
        else { return nil }
        let block = parts[li + 2], proj = parts[parts.count - 2]
        let attention = ["q_proj", "k_proj", "v_proj", "o_proj"], ffn = ["gate_proj", "up_proj", "down_proj"]
        guard li + 5 == parts.count, (block == "self_attn" && attention.contains(proj)) || (block == "mlp" && ffn.contains(proj)) else { return nil }
        return layer
    }

    static func prune(
        directory: String, method: PruneMethod, output: String,
        progress: @escaping (ModelPruner.LayerReport) -> Void, isCancelled: () -> Bool
    ) throws -> ModelPruner.Summary {
        let source = URL(fileURLWithPath: directory)
        let checkpoint = try SafetensorsCheckpoint(directory: source)
        let (targets, fileOf) = try layerMatrices(checkpoint, source: source)
        var run = try PruneRun(method: method, targets: targets, progress: progress)

        let fm = FileManager.default
        let out = URL(fileURLWithPath: output)
        let temporary = out.deletingLastPathComponent().appendingPathComponent(".\(out.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: temporary)
        do { try fm.createDirectory(at: temporary, withIntermediateDirectories: false) } catch {
            throw EngineError.file("cannot create \(temporary.path)")
        }
        var complete = false
        defer { if !complete { try? fm.removeItem(at: temporary) } }
        try copyOtherFiles(directory, except: checkpoint, into: temporary)
        for file in checkpoint.files {
            let dest = temporary.appendingPathComponent(URL(fileURLWithPath: file.file.path).lastPathComponent).path
            try writePruned(file, to: dest, targets: targets.filter { fileOf[$0.name] === file }, run: &run, isCancelled: isCancelled)
        }
        if isCancelled() { throw GGUFRewriter.Cancelled() }
        try moveIntoPlace(temporary, out)
        complete = true
        let bytes = (try? fm.contentsOfDirectory(atPath: out.path))?.reduce(0) {
            $0 + (((try? fm.attributesOfItem(atPath: out.appendingPathComponent($1).path))?[.size] as? Int) ?? 0)
        }
        return run.summary(path: out.path, fileBytes: bytes ?? 0)
    }

    /// The layer matrices to prune, each with the file that holds it.
    private static func layerMatrices(
        _ checkpoint: SafetensorsCheckpoint, source: URL
    ) throws -> ([PruneTarget], [String: SafetensorsFile]) {
        var targets: [PruneTarget] = []
        var fileOf: [String: SafetensorsFile] = [:]
        for file in checkpoint.files {
            for name in file.tensorNames {
                guard let t = file.tensors[name], let layer = layerIndex(name: name, shape: t.shape) else { continue }
                guard let type = t.dtype.ggmlType else { throw EngineError.unsupported("dtype \(t.dtype.rawValue) of \(GGUFFile.label(name))") }
                targets.append(
                    PruneTarget(
                        name: name, shortName: name.split(separator: ".").suffix(3).prefix(2).joined(separator: "."), layer: layer,
                        matrix: WeightMatrix(type: type, rows: t.shape[0], cols: t.shape[1], data: file.pointer(t))))
                fileOf[name] = file
            }
        }
        guard !targets.isEmpty else {
            throw EngineError.format(
                "\(source.lastPathComponent) has no transformer layer matrices to prune (layers.N.self_attn.q/k/v/o_proj, mlp.gate/up/down_proj)")
        }
        return (targets, fileOf)
    }

    /// The directory's other plain files (config, tokenizer, ...) copied as they are.
    private static func copyOtherFiles(_ directory: String, except checkpoint: SafetensorsCheckpoint, into temporary: URL) throws {
        let fm = FileManager.default
        let source = URL(fileURLWithPath: directory)
        let weightFiles = Set(checkpoint.files.map { URL(fileURLWithPath: $0.file.path).lastPathComponent })
        for entry in try fm.contentsOfDirectory(atPath: directory).sorted() where !weightFiles.contains(entry) {
            var isDir: ObjCBool = false
            let p = source.appendingPathComponent(entry).path
            guard fm.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue else { continue }
            do { try fm.copyItem(atPath: p, toPath: temporary.appendingPathComponent(entry).path) } catch {
                throw EngineError.file("cannot copy \(entry) into \(temporary.path)")
            }
        }
    }

    /// One safetensors file copied whole, then each of its layer matrices' bytes written
    /// over their old place, synced before the copy counts as done.
    private static func writePruned(
        _ file: SafetensorsFile, to dest: String, targets: [PruneTarget], run: inout PruneRun, isCancelled: () -> Bool
    ) throws {
        let fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EngineError.file("cannot create \(dest): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        func write(_ p: UnsafeRawBufferPointer, at offset: Int) throws {
            var done = 0
            while done < p.count {
                let n = pwrite(fd, p.baseAddress! + done, p.count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw EngineError.file("cannot write \(dest): \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        try write(file.file.bytes, at: 0)
        for target in targets {
            if isCancelled() { throw GGUFRewriter.Cancelled() }
            let bytes = try run.prune(target)
            try bytes.withUnsafeBytes { try write($0, at: file.tensors[target.name]!.offset) }
            run.written(target)
        }
        guard fsync(fd) == 0 else { throw EngineError.file("cannot sync \(dest): \(String(cString: strerror(errno)))") }
    }

    /// The finished copy renamed to `out`; an older copy there is moved aside first (a
    /// directory cannot be renamed over a full one) and removed once the new one is in place.
    private static func moveIntoPlace(_ temporary: URL, _ out: URL) throws {
        let fm = FileManager.default
        let old = out.deletingLastPathComponent().appendingPathComponent(".\(out.lastPathComponent).old-\(getpid())")
        if fm.fileExists(atPath: out.path) {
            guard rename(out.path, old.path) == 0 else { throw EngineError.file("cannot move the old \(out.path) aside") }
        }
        guard rename(temporary.path, out.path) == 0 else {
            throw EngineError.file("cannot rename \(temporary.path) to \(out.path): \(String(cString: strerror(errno)))")
        }
        try? fm.removeItem(at: old)
    }
}
