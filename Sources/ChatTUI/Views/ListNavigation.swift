/// Moving the highlighted row of a list overlay (the model picker, the sessions list).
enum ListNavigation {
    /// How many rows `key` moves the highlight by, or nil when it is not a movement key.
    static func step(_ key: Key) -> Int? {
        switch key {
        case .up, .ctrl("p"): return -1
        case .down, .ctrl("n"): return 1
        case .pageUp: return -10
        case .pageDown: return 10
        default: return nil
        }
    }

    /// `selected` moved by `d` rows, kept inside a list of `count` rows.
    static func moved(_ selected: Int, by d: Int, count: Int) -> Int {
        count == 0 ? selected : max(0, min(count - 1, selected + d))
    }
}
