// A sharded checkpoint: the input is model.safetensors.index.json, next to a fixed
// config.json and two small valid shards, read by SafetensorsCheckpoint as the loader does.
import Foundation
import FuzzSupport
import Inference

/// A valid one-tensor F32 shard (`name`: [2, 2]).
func shard(_ name: String) -> [UInt8] {
    let header = Array(#"{"\#(name)":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#.utf8)
    var n = UInt64(header.count).littleEndian
    return withUnsafeBytes(of: &n) { Array($0) } + header + [UInt8](repeating: 0x3F, count: 16)
}
let dir = Scratch.directory
for (file, tensor) in [("model-00001-of-00002.safetensors", "a.weight"), ("model-00002-of-00002.safetensors", "b.weight")] {
    shard(tensor).withUnsafeBytes { _ = Scratch.write($0, to: file) }
}
Array(#"{"model_type": "gemma"}"#.utf8).withUnsafeBytes { _ = Scratch.write($0, to: "config.json") }

FuzzDriver.run { bytes in
    Scratch.write(bytes, to: "model.safetensors.index.json")
    guard let ck = Oracle.parse("safetensors-index", { try SafetensorsCheckpoint(directory: dir) }) else { return }
    for name in ck.tensorNames {
        guard let v = Oracle.parse("safetensors-index vector", { try ck.vector(name) }) else { continue }
        check(v.count == 4, "\(name) has \(v.count) elements, the shard says 4")
    }
}
