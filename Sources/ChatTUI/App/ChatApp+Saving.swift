import Foundation
import Sessions

/// Saving the conversation without ever losing a turn: the session's write lock (a second
/// window on the same session opens it read-only), saves that fail (disk full, sessions
/// folder gone) keep the turns in memory and are retried on the next change, and quitting
/// with turns still unsaved writes them to a fallback file and says where.
extension ChatApp {
    /// Saves the conversation: throttled while streaming, now after each message.
    func persist(now: Bool) {
        guard !conversation.messages.isEmpty, !readOnly else { return }
        guard let a = autosaver else { unsaved[conversation.id] = conversation; return }
        claimSession()
        guard !readOnly else { return }
        a.update(conversation)
        if now {
            do {
                try a.flush()
                unsaved[conversation.id] = nil
            } catch {
                unsaved[conversation.id] = conversation
                say("cannot save the session: \(error); your turns are kept and saving is retried on the next change", error: true)
            }
        } else if a.lastError != nil {
            unsaved[conversation.id] = conversation
        }
    }

    /// Takes the write lock of the session shown (once per session). When another window
    /// holds it, this window turns read-only and says so. A lock that cannot be taken for
    /// another reason (the folder is not writable) is left: the save then fails and says why.
    func claimSession() {
        guard let s = store, lockedID != conversation.id else { return }
        releaseSession()
        do {
            if try s.lock(id: conversation.id) {
                lockedID = conversation.id
            } else {
                readOnly = true
                sayReadOnly()
            }
        } catch {}
    }

    /// Lets go of the session's lock (switching to another session); the next one starts writable.
    func releaseSession() {
        if let id = lockedID { store?.unlock(id: id) }
        lockedID = nil
        readOnly = false
    }

    static let readOnlyNotice = "read-only: this session is open in another window; F4 then n (or /clear) starts a new one"

    func sayReadOnly() { say(ChatApp.readOnlyNotice, error: true) }

    /// At quit: every conversation whose save failed gets one more try, then a copy in the
    /// fallback folder (UnsavedCopy), and a line for stderr naming the file.
    func saveOrCopyUnsaved() {
        for (id, c) in unsaved.sorted(by: { $0.key < $1.key }) {
            var reason = "no session store"
            if let s = store {
                do { try s.save(c); continue } catch { reason = "\(error)" }
            }
            quitWithUnsavedTurns = true
            do {
                let url = try UnsavedCopy.write(c)
                exitReport.append("sparkchat: error: session \(id) could not be saved (\(reason)); its turns are in \(url.path)")
            } catch {
                exitReport.append("sparkchat: error: session \(id) could not be saved (\(reason)), and no copy could be written: \(error)")
            }
        }
        unsaved = [:]
    }
}
