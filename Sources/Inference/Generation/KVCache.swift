import CKernels

/// Keys and values of the attention layers. Global layers keep every position;
/// local (sliding-window) layers keep a ring of `window + slack` positions, so
/// memory stays bounded while a rewind of up to `slack` tokens (a chat turn whose
/// re-tokenized reply differs from the generated tokens) stays possible.
/// A position's row holds `kvHeads` head rows of `type`'s layout (`rowBytes` in all).
public final class KVCache: ModelState {
    struct Layer {
        var keys: UnsafeMutableRawPointer?
        var values: UnsafeMutableRawPointer?
        var keyPrefix: UnsafeMutablePointer<Float>?  // kvHeads × allocated × keyPrefixDims, see keyPrefixDims
        var allocated = 0  // positions with storage
        let ringSize: Int  // slots; position p lives in slot p % ringSize
        let window: Int?  // nil for global layers
    }

    /// Positions a forward chunk may add at once without overwriting keys it still needs.
    static let slack = 1024
    let width: Int  // kvHeads * headDim
    let headDim: Int
    let type: KVCacheType
    /// Bytes of one position (every KV head) and of one head within it.
    let rowBytes: Int
    let headRowBytes: Int
    let capacity: Int
    /// Spark attention ranks every visible key by its first `keyPrefixDims` dims and reads
    /// whole rows only for the top k. In the rows those dims are a slice of every key's
    /// row, `rowBytes` apart (a new page per key at Gemma 2 2B's shapes); a copy of them,
    /// contiguous per KV head over the ring's slots, lets that pass stream. 0: no copy.
    let keyPrefixDims: Int
    var layers: [Layer]
    /// q8_0: float copies of a layer's rows for prefill's sgemm attention (floatRows).
    private let dequantized = ScratchBuffer(64)
    /// Long-cache decode attention's per-chunk partial sums (attendPerQueryGrouped): kept
    /// with the state, which one forward uses at a time, so a token allocates nothing.
    let attentionPartials = ScratchBuffer(64)
    public private(set) var length = 0

    init(windows: [Int?], width: Int, headDim: Int, capacity: Int, type: KVCacheType = .f32, keyPrefixDims: Int = 0) {
        precondition(keyPrefixDims == 0 || (type == .f32 && keyPrefixDims <= headDim), "key prefix copies are of float32 rows")
        self.keyPrefixDims = keyPrefixDims
        self.width = width
        self.headDim = headDim
        self.type = type
        self.headRowBytes = type.headRowBytes(headDim: headDim)
        self.rowBytes = (width / max(headDim, 1)) * headRowBytes
        self.capacity = capacity
        self.layers = windows.map { w in
            Layer(ringSize: w.map { min($0 + KVCache.slack, capacity) } ?? capacity, window: w)
        }
    }

    /// A cache for a transformer config: windowed rings for its local layers.
    convenience init(config: ModelConfig, capacity: Int, type: KVCacheType = .f32, keyPrefixDims: Int = 0) {
        self.init(
            windows: config.layerKinds.map { $0 == .local ? config.slidingWindow : nil },
            width: config.kvHeadCount * config.headDim, headDim: config.headDim, capacity: capacity, type: type,
            keyPrefixDims: keyPrefixDims)
    }

    deinit {
        for l in layers {
            l.keys.map(HugePageMemory.deallocate)
            l.values.map(HugePageMemory.deallocate)
            l.keyPrefix.map { HugePageMemory.deallocate(UnsafeMutableRawPointer($0)) }
        }
    }

    public var byteCount: Int {
        let prefixBytes = (width / max(headDim, 1)) * keyPrefixDims * MemoryLayout<Float>.size  // 0 without a copy
        return layers.reduce(0) { $0 + $1.allocated * (2 * rowBytes + prefixBytes) }
    }

    public func truncate(to n: Int) -> Bool {
        guard n <= length else { return false }
        for l in layers where l.window != nil && l.ringSize < capacity {
            if length - n > l.ringSize - l.window! { return false }
        }
        length = n
        return true
    }

    func advance(by n: Int) { length += n }

    @inline(__always) func slot(_ layer: Int, _ position: Int) -> Int { position % layers[layer].ringSize }

    /// Makes room for positions up to `position` (exclusive) in a layer.
    func reserve(_ layer: Int, upTo position: Int) {
        var l = layers[layer]
        let need = min(position, l.ringSize)
        guard need > l.allocated else { return }
        let newCount = min(l.ringSize, max(need, l.allocated * 2, 256))
        if keyPrefixDims > 0 {
            // Each head's slots stay contiguous: the copy grows with the rows, head by head.
            let heads = width / headDim, dims = keyPrefixDims
            let p = HugePageMemory.allocate(byteCount: heads * newCount * dims * MemoryLayout<Float>.size)
                .bindMemory(to: Float.self, capacity: heads * newCount * dims)
            if let old = l.keyPrefix {
                for h in 0..<heads { (p + h * newCount * dims).update(from: old + h * l.allocated * dims, count: l.allocated * dims) }
                HugePageMemory.deallocate(UnsafeMutableRawPointer(old))
            }
            l.keyPrefix = p
        }
        for kp in [\Layer.keys, \Layer.values] {
            let p = HugePageMemory.allocate(byteCount: newCount * rowBytes)
            if let old = l[keyPath: kp] {
                p.copyMemory(from: old, byteCount: l.allocated * rowBytes)
                HugePageMemory.deallocate(old)
            }
            l[keyPath: kp] = p
        }
        l.allocated = newCount
        layers[layer] = l
    }

    /// A KV head's copy of its keys' first `keyPrefixDims` dims: slot s at s · keyPrefixDims.
    /// Heads are `keyPrefixHeadStride(layer)` floats apart, which moves when the layer grows.
    func keyPrefix(_ layer: Int, head: Int) -> UnsafeMutablePointer<Float>? {
        layers[layer].keyPrefix.map { $0 + head * keyPrefixHeadStride(layer) }
    }

    func keyPrefixHeadStride(_ layer: Int) -> Int { layers[layer].allocated * keyPrefixDims }

    /// Copies a slot's key dims into the prefix copy (store does it; a writer of raw rows must).
    func refreshKeyPrefix(_ layer: Int, slot: Int) {
        guard keyPrefixDims > 0 else { return }
        let k = keys(layer, slot: slot)
        for h in 0..<(width / headDim) {
            keyPrefix(layer, head: h)!.advanced(by: slot * keyPrefixDims).update(from: k + h * headDim, count: keyPrefixDims)
        }
    }

    /// True when positions 0..<end sit in slots 0..<end in order (the ring has not wrapped),
    /// so a prefill can treat them as one strided matrix.
    func isContiguous(_ layer: Int, upTo end: Int) -> Bool {
        end <= layers[layer].ringSize && end <= layers[layer].allocated
    }

    /// A float32 cache's keys and values of a slot (`width` floats).
    @inline(__always) func keys(_ layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        (layers[layer].keys! + slot * rowBytes).assumingMemoryBound(to: Float.self)
    }
    @inline(__always) func values(_ layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        (layers[layer].values! + slot * rowBytes).assumingMemoryBound(to: Float.self)
    }

    /// Stores one position's keys and values (`width` floats each) in a slot, in the cache's type.
    func store(_ layer: Int, slot: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>) {
        let l = layers[layer]
        switch type {
        case .f32:
            keys(layer, slot: slot).update(from: k, count: width)
            values(layer, slot: slot).update(from: v, count: width)
            refreshKeyPrefix(layer, slot: slot)
        case .q8_0:
            for h in 0..<(width / headDim) {
                let at = slot * rowBytes + h * headRowBytes
                ck_kv_q8_quantize(k + h * headDim, l.keys! + at, Int64(headDim))
                ck_kv_q8_quantize(v + h * headDim, l.values! + at, Int64(headDim))
            }
        }
    }

    /// Positions 0..<count of a contiguous layer as float32 rows of `width` (keys, values):
    /// the cache itself when it is float32, else a dequantized copy in scratch memory that
    /// the next call reuses (prefill's batched attention multiplies them with sgemm).
    func floatRows(_ layer: Int, count: Int) -> (keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>) {
        guard type == .q8_0 else { return (keys(layer, slot: 0), values(layer, slot: 0)) }
        let k = dequantized.floats(2 * count * width), v = k + count * width
        let heads = width / headDim, src = (keys: layers[layer].keys!, values: layers[layer].values!)
        parallelFor(count) { p in
            for h in 0..<heads {
                let at = p * rowBytes + h * headRowBytes, to = p * width + h * headDim
                ck_kv_q8_dequantize(src.keys + at, k + to, Int64(headDim))
                ck_kv_q8_dequantize(src.values + at, v + to, Int64(headDim))
            }
        }
        return (k, v)
    }

    /// The raw rows of a layer (q8_0 attention reads them with strides of `rowBytes`).
    func rawKeys(_ layer: Int) -> UnsafeMutableRawPointer { layers[layer].keys! }
    func rawValues(_ layer: Int) -> UnsafeMutableRawPointer { layers[layer].values! }
}
