/// What a key does in the chat (overlays handle their own keys in ChatApp).
enum ChatAction: Equatable {
    case send, newline, insert(String), paste(String)
    case backspace, deleteForward, left, right, up, down
    case lineStart, lineEnd, killToEnd, killToStart, deleteWord
    case wordLeft, wordRight, deleteWordBack, deleteWordForward
    case historySearch
    case scroll(Int), pageUp, pageDown, top, bottom
    case help, picker, toggleStats, sessions
    case stop, interrupt, redraw, none
}

enum Keymap {
    static let wheelRows = 3

    static func chat(_ key: Key, inputEmpty: Bool) -> ChatAction {
        switch key {
        case .enter: return .send
        case .newline: return .newline
        case .text(let s): return s == "?" && inputEmpty ? .help : .insert(s)
        case .paste(let s): return .paste(s)
        case .tab: return .insert("    ")
        case .backspace: return .backspace
        case .delete: return .deleteForward
        case .left: return .left
        case .right: return .right
        case .up: return .up
        case .down: return .down
        case .home: return .top
        case .end: return .bottom
        case .pageUp: return .pageUp
        case .pageDown: return .pageDown
        case .wheelUp: return .scroll(wheelRows)
        case .wheelDown: return .scroll(-wheelRows)
        case .function(1): return .help
        case .function(2): return .picker
        case .function(3): return .toggleStats
        case .function(4): return .sessions
        case .function: return .none
        case .escape: return .stop
        case .ctrlLeft: return .wordLeft
        case .ctrlRight: return .wordRight
        case .altBackspace: return .deleteWordBack
        case .alt(let c):
            switch c {
            case "b", "B": return .wordLeft
            case "f", "F": return .wordRight
            case "d", "D": return .deleteWordForward
            default: return .none
            }
        case .ctrl(let c):
            switch c {
            case "a": return .lineStart
            case "e": return .lineEnd
            case "k": return .killToEnd
            case "u": return .killToStart
            case "w": return .deleteWord
            case "d": return .deleteForward
            case "b": return .left
            case "f": return .right
            case "p": return .up
            case "n": return .down
            case "c": return .interrupt
            case "l": return .redraw
            case "r": return .historySearch
            default: return .none
            }
        }
    }

    /// The key list the help overlay shows.
    static let help: [(String, String)] = [
        ("Enter", "send"),
        ("Alt-Enter, Ctrl-J", "new line in the input"),
        ("Up / Down", "move between lines, or input history"),
        ("Ctrl-A / Ctrl-E", "start / end of line"),
        ("Ctrl-K / Ctrl-U", "delete to end / start of line"),
        ("Ctrl-W", "delete back to the previous space"),
        ("Alt-B / Alt-F", "word left / right (also Ctrl-Left/Right)"),
        ("Alt-Backspace / Alt-D", "delete the word before / after"),
        ("Ctrl-R", "search the input history (again: older)"),
        ("PgUp / PgDn, wheel", "scroll the transcript"),
        ("Home / End", "top / bottom (End follows new output)"),
        ("F1 or ? (empty input)", "this help"),
        ("F2", "model picker (s: sparkify a dense Gemma)"),
        ("F3", "live stats panel"),
        ("F4", "sessions"),
        ("Esc", "stop the reply (kept, marked interrupted)"),
        ("Ctrl-C twice", "quit")
    ]
}
