/// Keys and values of the attention layers. Global layers keep every position;
/// local (sliding-window) layers keep a ring of `window + slack` positions, so
/// memory stays bounded while a rewind of up to `slack` tokens (a chat turn whose
/// re-tokenized reply differs from the generated tokens) stays possible.
public final class KVCache: ModelState {
    struct Layer {
        var keys: UnsafeMutablePointer<Float>?
        var values: UnsafeMutablePointer<Float>?
        var allocated = 0  // positions with storage
        let ringSize: Int  // slots; position p lives in slot p % ringSize
        let window: Int?  // nil for global layers
    }

    /// Positions a forward chunk may add at once without overwriting keys it still needs.
    static let slack = 1024
    let width: Int  // kvHeads * headDim
    let capacity: Int
    var layers: [Layer]
    public private(set) var length = 0

    init(windows: [Int?], width: Int, capacity: Int) {
        self.width = width
        self.capacity = capacity
        self.layers = windows.map { w in
            Layer(ringSize: w.map { min($0 + KVCache.slack, capacity) } ?? capacity, window: w)
        }
    }

    /// A cache for a transformer config: windowed rings for its local layers.
    convenience init(config: ModelConfig, capacity: Int) {
        self.init(
            windows: config.layerKinds.map { $0 == .local ? config.slidingWindow : nil },
            width: config.kvHeadCount * config.headDim, capacity: capacity)
    }

    deinit {
        for l in layers { l.keys?.deallocate(); l.values?.deallocate() }
    }

    public var byteCount: Int { layers.reduce(0) { $0 + 2 * $1.allocated * width * 4 } }

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
        for kp in [\Layer.keys, \Layer.values] {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: newCount * width)
            if let old = l[keyPath: kp] {
                p.update(from: old, count: l.allocated * width)
                old.deallocate()
            }
            l[keyPath: kp] = p
        }
        l.allocated = newCount
        layers[layer] = l
    }

    /// True when positions 0..<end sit in slots 0..<end in order (the ring has not wrapped),
    /// so a prefill can treat them as one strided matrix.
    func isContiguous(_ layer: Int, upTo end: Int) -> Bool {
        end <= layers[layer].ringSize && end <= layers[layer].allocated
    }

    @inline(__always) func keys(_ layer: Int, slot: Int) -> UnsafeMutablePointer<Float> { layers[layer].keys! + slot * width }
    @inline(__always) func values(_ layer: Int, slot: Int) -> UnsafeMutablePointer<Float> { layers[layer].values! + slot * width }
}
