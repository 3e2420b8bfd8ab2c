/// Float storage a model owns for its lifetime (made at load, e.g. the neuron-major
/// copies of Spark's down_proj), freed with the model.
final class OwnedFloats {
    let pointer: UnsafeMutablePointer<Float>
    init(count: Int) { pointer = .allocate(capacity: max(count, 1)) }
    deinit { pointer.deallocate() }
}
