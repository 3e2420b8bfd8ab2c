/// Chooses exactly `k` weights of smallest magnitude among one or many matrices, without
/// sorting or holding them all: |x|'s float bits, read as an unsigned integer, order like
/// |x|, so two 16-bit histogram passes find the k-th smallest magnitude exactly (a radix
/// select). Weights of equal magnitude at the threshold are taken in order (matrix,
/// then index) until k are chosen, so the count is exact even in a quantized matrix
/// where thousands of weights share a value. NaN sorts above every number: kept.
struct MagnitudeSelection {
    /// Weights whose magnitude bits are below `threshold` are pruned…
    let threshold: UInt32
    /// …and this many of those equal to it, the first ones met.
    var tiesLeft: Int

    static func bits(_ x: Float) -> UInt32 { x.bitPattern & 0x7FFF_FFFF }

    /// Selects the `k` smallest of the values `forEach` visits (it is called twice and
    /// must visit the same values in the same order each time).
    init(k: Int, forEach: ((UnsafeBufferPointer<Float>) -> Void) -> Void) {
        guard k > 0 else {
            threshold = 0
            tiesLeft = 0
            return
        }
        var high = [Int](repeating: 0, count: 1 << 16)
        forEach { xs in for x in xs { high[Int(Self.bits(x) >> 16)] += 1 } }
        var below = 0, bin = 0
        while bin < (1 << 16) - 1 && below + high[bin] < k {
            below += high[bin]
            bin += 1
        }
        var low = [Int](repeating: 0, count: 1 << 16)
        let top = UInt32(bin)
        forEach { xs in
            for x in xs {
                let b = Self.bits(x)
                if b >> 16 == top { low[Int(b & 0xFFFF)] += 1 }
            }
        }
        var sub = 0
        while sub < (1 << 16) - 1 && below + low[sub] < k {
            below += low[sub]
            sub += 1
        }
        threshold = top << 16 | UInt32(sub)
        tiesLeft = k - below
    }

    /// Whether the next value (in the visiting order) is pruned.
    mutating func prunes(_ x: Float) -> Bool {
        let b = Self.bits(x)
        if b < threshold { return true }
        if b == threshold && tiesLeft > 0 {
            tiesLeft -= 1
            return true
        }
        return false
    }
}

/// N:M selection: in each group of `m` consecutive values of a row, the `n` largest
/// magnitudes stay (of equal ones, the earlier), the rest are pruned.
enum NOfMSelection {
    static func mask(_ values: [Float], cols: Int, n: Int, m: Int) -> [Bool] {
        var mask = [Bool](repeating: false, count: values.count)
        var g = 0
        while g < values.count {
            for j in 0..<m {
                let bj = MagnitudeSelection.bits(values[g + j])
                var larger = 0
                for i in 0..<m where i != j {
                    let bi = MagnitudeSelection.bits(values[g + i])
                    if bi > bj || (bi == bj && i < j) { larger += 1 }
                }
                mask[g + j] = larger >= n
            }
            g += m
        }
        return mask
    }
}
