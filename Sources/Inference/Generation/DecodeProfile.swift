import Foundation

/// Optional wall-time breakdown of the forward pass by section (off unless enabled:
/// `sparkchat bench --profile`). Used to see where a decoded token's time goes.
public final class DecodeProfile: @unchecked Sendable {
    public static let shared = DecodeProfile()
    public var enabled = false
    public private(set) var seconds: [String: Double] = [:]
    public private(set) var order: [String] = []
    private let lock = NSLock()

    @inline(__always) public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Adds the time since `start` to `section`; returns the current time for chaining.
    @discardableResult
    public func lap(_ section: String, since start: UInt64) -> UInt64 {
        let t = DecodeProfile.now()
        guard enabled else { return t }
        lock.lock()
        if seconds[section] == nil { order.append(section) }
        seconds[section, default: 0] += Double(t - start) / 1e9
        lock.unlock()
        return t
    }

    public func reset() { lock.lock(); seconds = [:]; order = []; lock.unlock() }
}
