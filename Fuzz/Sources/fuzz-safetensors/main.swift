// The safetensors reader (header length, JSON header, dtypes, shapes, offsets, overlap).
import FuzzSupport
import Inference

FuzzDriver.run { bytes in
    guard let file = try? MappedFile(copying: bytes, path: "model.safetensors") else { return }
    if let f = Oracle.parse("safetensors", { try SafetensorsFile(file: file) }) { Exercise.safetensors(f) }
}
