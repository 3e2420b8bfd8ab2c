// A theme file: parsed, then every role's style looked up (as drawing does).
import Foundation
import FuzzSupport

@testable import ChatTUIFiles

FuzzDriver.run { bytes in
    guard let t = Oracle.parse("theme", { try Theme.parse(Data(bytes), name: "fuzz") }) else { return }
    for role in StyleRole.allCases { _ = t.style(role) }
}
