// config.json as the app reads it at start-up: never fails, at most a one-line notice.
import Foundation
import FuzzSupport

@testable import ChatTUIFiles

FuzzDriver.run { bytes in
    Scratch.write(bytes, to: "config.json")
    let (_, notice) = AppConfig.load(from: Scratch.directory)
    if let n = notice { check(!n.contains("\n"), "multi-line config notice: \(n.debugDescription)") }
}
