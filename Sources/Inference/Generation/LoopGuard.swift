/// Ends a reply caught in a verbatim loop: the same run of tokens repeated back to
/// back. Repetition penalties make loops rarer; this makes them finite and says so.
///
/// A loop is the reply's last L tokens having a period p (each token equal to the
/// one p earlier) with L ≥ max(copies·p, minimumSpan): at least three whole copies,
/// and never fewer than `minimumSpan` tokens, so that "ha ha ha", a table rule or a
/// short list marker pattern is not mistaken for one.
public struct LoopGuard: Sendable {
    public var copies = 3
    public var minimumSpan = 32
    public var maxPeriod = 256
    private(set) var ids: [Int] = []

    public init() {}

    /// Adds a generated token; true when the reply now ends in a loop.
    public mutating func push(_ id: Int) -> Bool {
        ids.append(id)
        return loopPeriod() != nil
    }

    /// The period of the loop the tokens end in, if any.
    public func loopPeriod() -> Int? {
        let n = ids.count
        guard n >= minimumSpan else { return nil }
        for p in 1...min(maxPeriod, n / copies) {
            let span = max(copies * p, minimumSpan)
            guard span <= n else { break }
            var periodic = true
            var k = n - 1
            while k >= n - span + p {
                if ids[k] != ids[k - p] { periodic = false; break }
                k -= 1
            }
            if periodic { return p }
        }
        return nil
    }
}
