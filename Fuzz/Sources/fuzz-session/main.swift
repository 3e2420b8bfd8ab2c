// A session file decoded as SessionStore.load does; what loads must save and load
// again to the same bytes (or a re-save would lose data), and export in every format.
import Foundation
import FuzzSupport

@testable import Sessions

FuzzDriver.run { bytes in
    guard let c = Oracle.parse("session", { try SessionFile.decode(Data(bytes)) }) else { return }
    let saved = try! SessionFile.encode(c)  // a save must never fail
    let again = try! SessionFile.decode(saved)
    check(try! SessionFile.encode(again) == saved, "session changes when saved and loaded again")
    for format in ExportFormat.allCases { Oracle.parse("session export") { try Exporter.render(c, as: format) } }
}
