#!/usr/bin/env python3
"""Writes the committed seed corpus, Fuzz/corpus/<target>/: small valid files of each
format (a fuzzer mutates valid files far deeper than it finds them from nothing).
Run from anywhere; standard library only. Rerun after changing a format, then commit."""
import json, os, random, shutil, struct

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(here)
corpus = os.path.join(here, "corpus")


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def copy(target, name, src):
    put(target, name, open(os.path.join(repo, src), "rb").read())


# GGUF (v3, little-endian): the same layout as Tests/InferenceTests/TestSupport/GGUFWriter.swift.
def gguf(metadata, tensors, alignment=32):
    out = bytearray()
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    def value(t, v):
        if t == 8: return s(v)
        if t == 9:
            et, items = v
            return struct.pack("<IQ", et, len(items)) + b"".join(value(et, i) for i in items)
        fmt = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}[t]
        return struct.pack(fmt, v)
    out += struct.pack("<IIQQ", 0x46554747, 3, len(tensors), len(metadata))
    for k, t, v in metadata:
        out += s(k) + struct.pack("<I", t) + value(t, v)
    rel, cursor = [], 0
    for _, _, _, data in tensors:
        rel.append(cursor)
        cursor = (cursor + len(data) + alignment - 1) // alignment * alignment
    for (name, dims, ty, _), r in zip(tensors, rel):
        out += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", ty, r)
    start = (len(out) + alignment - 1) // alignment * alignment
    out += bytes(start - len(out))
    for (_, _, _, data), r in zip(tensors, rel):
        out += bytes(start + r - len(out)) + data
    return bytes(out)


rng = random.Random(1)
def f32(n, scale=0.2):
    return struct.pack("<%df" % n, *[(rng.random() * 2 - 1) * scale for _ in range(n)])


def vocabulary():
    pieces = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    types = [3, 3, 3, 2, 3, 3]
    pieces += ["<0x%02X>" % b for b in range(256)]
    types += [6] * 256
    for p in ["\u2581", "a", "b", "c", "\u2581a", "ab", "\u2581ab", "abc", "\n", "\n\n", "  ", "\u2581the", "h", "e", "t", "he", "the"]:
        pieces.append(p)
        types.append(4 if p in ("\n\n", "  ") else 1)
    return [("tokenizer.ggml.model", 8, "llama"),
            ("tokenizer.ggml.tokens", 9, (8, pieces)),
            ("tokenizer.ggml.scores", 9, (6, [-float(i) for i in range(len(pieces))])),
            ("tokenizer.ggml.token_type", 9, (5, types)),
            ("tokenizer.ggml.bos_token_id", 4, 2), ("tokenizer.ggml.eos_token_id", 4, 1),
            ("tokenizer.ggml.unknown_token_id", 4, 3), ("tokenizer.ggml.add_space_prefix", 7, 0)], len(pieces)


def tiny_gemma3():
    """A complete 1-layer Gemma 3 (hidden 32) that LoadedModel.load accepts and runs."""
    hidden, ffn, heads, kv, hd = 32, 64, 2, 1, 16
    meta = [("general.architecture", 8, "gemma3"), ("general.name", 8, "tiny-gemma3"), ("general.alignment", 4, 32),
            ("gemma3.context_length", 4, 128), ("gemma3.embedding_length", 4, hidden), ("gemma3.block_count", 4, 1),
            ("gemma3.feed_forward_length", 4, ffn), ("gemma3.attention.head_count", 4, heads),
            ("gemma3.attention.head_count_kv", 4, kv), ("gemma3.attention.key_length", 4, hd),
            ("gemma3.attention.value_length", 4, hd), ("gemma3.attention.layer_norm_rms_epsilon", 6, 1e-6),
            ("gemma3.attention.sliding_window", 4, 16), ("gemma3.rope.freq_base", 6, 1e6)]
    vocab_meta, vocab = vocabulary()
    qd, kvd, p = heads * hd, kv * hd, "blk.0."
    tensors = [("token_embd.weight", [hidden, vocab], 0, f32(hidden * vocab)),
               ("output_norm.weight", [hidden], 0, f32(hidden, 1)),
               (p + "attn_norm.weight", [hidden], 0, f32(hidden, 1)),
               (p + "attn_q.weight", [hidden, qd], 0, f32(hidden * qd)),
               (p + "attn_k.weight", [hidden, kvd], 0, f32(hidden * kvd)),
               (p + "attn_v.weight", [hidden, kvd], 0, f32(hidden * kvd)),
               (p + "attn_output.weight", [qd, hidden], 0, f32(qd * hidden)),
               (p + "attn_q_norm.weight", [hd], 0, f32(hd, 1)), (p + "attn_k_norm.weight", [hd], 0, f32(hd, 1)),
               (p + "post_attention_norm.weight", [hidden], 0, f32(hidden, 1)),
               (p + "ffn_norm.weight", [hidden], 0, f32(hidden, 1)),
               (p + "ffn_gate.weight", [hidden, ffn], 0, f32(hidden * ffn)),
               (p + "ffn_up.weight", [hidden, ffn], 0, f32(hidden * ffn)),
               (p + "ffn_down.weight", [ffn, hidden], 0, f32(ffn * hidden)),
               (p + "post_ffw_norm.weight", [hidden], 0, f32(hidden, 1))]
    return gguf(meta + vocab_meta, tensors)


def sample_gguf():
    """Every metadata value type, nested arrays, a small vocabulary and three tensor types."""
    meta = [("general.architecture", 8, "test"), ("general.alignment", 4, 32),
            ("v.u8", 0, 200), ("v.i8", 1, -100), ("v.u16", 2, 60000), ("v.i16", 3, -30000),
            ("v.u32", 4, 4_000_000_000), ("v.i32", 5, -2_000_000_000), ("v.f32", 6, 1.5), ("v.bool", 7, 1),
            ("v.string", 8, "h\u00e9llo \u2581world"), ("v.u64", 10, 2**64 - 1), ("v.i64", 11, -2**63), ("v.f64", 12, -2.25),
            ("v.nested", 9, (9, [(5, [1, -2]), (8, ["x"]), (4, [])])),
            ("tokenizer.ggml.tokens", 9, (8, ["<pad>", "<eos>", "<bos>", "<unk>", "a", "b", "ab", "\u2581", "<0x0A>"])),
            ("tokenizer.ggml.scores", 9, (6, [-float(i) for i in range(9)])),
            ("tokenizer.ggml.token_type", 9, (5, [3, 3, 3, 2, 1, 1, 1, 1, 6]))]
    tensors = [("a", [64, 2], 8, bytes((i * 31 + 7) & 255 for i in range(2 * 34))),      # Q8_0
               ("b", [3], 0, struct.pack("<3f", 1, 2, 3)),                                 # F32
               ("c", [256], 12, bytes((i * 31 + 7) & 255 for i in range(144))),           # Q4_K
               ("d", [4, 2], 1, bytes(16))]                                                 # F16
    return gguf(meta, tensors)


def safetensors(tensors, metadata=None, pad=8):
    """tensors: [(name, dtype, shape, data bytes)]; data laid out in order."""
    header, offset, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        data += blob
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % pad)
    return struct.pack("<Q", len(h)) + h + data


if os.path.isdir(corpus):
    shutil.rmtree(corpus)

put("gguf", "sample-gguf.bin", sample_gguf())
put("gguf", "truncated-vocabulary-gguf.bin", sample_gguf()[:600])
model = tiny_gemma3()
put("gguf-load", "tiny-gemma3-gguf.bin", model)

put("safetensors", "floats.safetensors", safetensors(
    [("model.embed_tokens.weight", "F32", [4, 2], struct.pack("<8f", *range(8))),
     ("model.norm.weight", "BF16", [2], b"\x80\x3f\x00\x40"),
     ("lm_head.weight", "F16", [2, 2], b"\x00\x3c" * 4)], {"format": "pt"}))
put("safetensors", "ints-and-empty.safetensors", safetensors(
    [("ids", "I64", [2], struct.pack("<2q", -1, 7)), ("mask", "BOOL", [3], b"\x01\x00\x01"),
     ("empty", "F32", [0, 4], b""), ("scalar", "U8", [], b"\x05")]))
put("safetensors", "header-only.safetensors", safetensors([], {}))

index = {"metadata": {"total_size": 32}, "weight_map": {
    "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}}
put("safetensors-index", "two-shards.json", json.dumps(index, indent=2))
put("safetensors-index", "one-shard.json", json.dumps({"weight_map": {"b.weight": "model-00002-of-00002.safetensors"}}))

copy("tokenizer-model", "gemma.model", "Tests/Fixtures/family/tokenizer/tokenizer.model")
copy("tokenizer-model", "spark.model", "Tests/Fixtures/spark/tiny/tokenizer.model")
copy("tokenizer-json", "gemma2.json", "Tests/Fixtures/family/tokenizer/tokenizer.json")
put("tokenizer-json", "array-merges.json", json.dumps({
    "added_tokens": [{"id": 0, "content": "<pad>", "special": True}, {"id": 1, "content": "<eos>", "special": True},
                     {"id": 2, "content": "<bos>", "special": True}, {"id": 9, "content": "<start_of_turn>", "special": True}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
              "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<0x0A>": 4, "\u2581": 5, "a": 6, "b": 7, "ab": 8,
                        "<start_of_turn>": 9, "e\u0301": 10, "\u00e9": 11, "\u2581ab": 12},
              "merges": [["a", "b"], ["\u2581", "ab"], "e \u0301"]}}, ensure_ascii=False))

message = lambda role, text, **kw: dict({"id": "6F9619FF-8B86-D011-B42D-00CF4FC964FF", "role": role, "text": text,
                                         "time": "2026-11-27T05:03:12Z", "interrupted": False}, **kw)
put("session", "full.json", json.dumps({
    "version": 1, "id": "20261127-050312-a1b2", "title": "Dragons and tea", "created": "2026-11-27T05:03:12Z",
    "updated": "2026-11-27T05:04:40.250Z", "systemPrompt": "Be brief.",
    "settings": {"temperature": 0.7, "topK": 64, "topP": 0.95, "minP": 0, "repetitionPenalty": 1.1, "seed": 42,
                 "maxTokens": 1024, "sparsity": "stat-topk:0.08", "speculative": "slice:8192@4"},
    "model": "gemma-3-270m-q4_k_m",
    "messages": [message("user", "Tell me about **dragons** <b>&amp;</b>\n\n```swift\nlet x = 1\n```"),
                 message("assistant", "Dragons | tea\n---|---\n1 | 2\n> quote", model="gemma-3-270m-q4_k_m",
                         stats={"promptTokens": 12, "generatedTokens": 40, "prefillTPS": 512.5, "decodeTPS": "inf",
                                "timeToFirstTokenMs": 191, "meanActiveFFN": 0.08, "flops": 1.5e9, "flopsDense": 2e10,
                                "speculativeAcceptance": 0.75}, interrupted=True)]}, indent=2))
put("session", "minimal.json", json.dumps({"version": 1, "id": "x", "created": "2026-01-01T00:00:00Z",
                                           "messages": [{"role": "system", "text": "", "time": "2026-01-01T00:00:00Z"}]}))

put("config", "full.json", json.dumps({"theme": "dark", "model": "gemma-3-270m-q4_k_m", "temperature": 0.7,
                                       "max_tokens": 1024, "top_k": 64, "top_p": 0.95, "seed": 1, "sparsity": "stat-topk:0.1",
                                       "speculative": "lookup:3@4", "system_prompt": "Be brief."}, indent=2))
put("config", "out-of-range.json", json.dumps({"temperature": 1e300, "top_k": -1, "max_tokens": 0, "sparsity": "bogus"}))
put("config", "empty.json", "{}")

for name in sorted(os.listdir(os.path.join(repo, "themes"))):
    if name.endswith(".json"):
        copy("theme", name, os.path.join("themes", name))

total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(corpus) for f in fs)
print("seed corpus: %d bytes in %s" % (total, corpus))
