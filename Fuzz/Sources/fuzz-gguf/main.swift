// The GGUF reader on raw bytes (an in-memory map, the same code path as a file).
import FuzzSupport

@testable import Inference

FuzzDriver.run { bytes in
    guard let file = try? MappedFile(copying: bytes) else { return }  // empty input
    if let g = Oracle.parse("gguf", { try GGUFFile(file: file) }) { Exercise.gguf(g) }
}
