"""Training-free "sparkified" Gemma 3 270M: fit (scripts/spark/sparkify.py), evaluate in
PyTorch, and write the overlay files that SparkChat loads on top of the GGUF.

  python sparkify_gemma.py MODELS_DIR CORPUS_DIR OUT.json [--write 0.5,0.25] [--rank 128 (0: exact gate)] [--evaluate]

Calibration: 6 chunks of 511 tokens spread evenly over the training split of the King
James Bible (scripts/spark/kjv.py; CORPUS_DIR/kjv.jsonl from scripts/spark/fetch-kjv),
3066 tokens. Evaluation (with --evaluate): perplexity on text never used in the fit —
a chunk of the held-out KJV split and the end of the Declaration of Independence
(Tests/Fixtures/perplexity/declaration.txt) — every position, one chunk of 512 each;
the model is the GGUF dequantized to float32.
Writes MODELS_DIR/gemma-3-270m-q4_k_m.sparkify-f<F>.safetensors per --write fraction
(-f<F>-gate.safetensors with --rank 0: no predictor, the selection reads the exact gate).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sparkify  # noqa: E402
from kjv import load_text  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("models"); ap.add_argument("corpus"); ap.add_argument("out")
ap.add_argument("--write", default="0.5,0.25")
ap.add_argument("--rank", type=int, default=128)
ap.add_argument("--evaluate", action="store_true")
a = ap.parse_args()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILE = "gemma-3-270m-q4_k_m.gguf"
CTX = 512
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
t0 = time.time()
tok = AutoTokenizer.from_pretrained(a.models, gguf_file=FILE)
model = AutoModelForCausalLM.from_pretrained(a.models, gguf_file=FILE, dtype=torch.float32,
                                             attn_implementation="eager").eval()
dense_forwards = [l.mlp.forward for l in model.model.layers]
print("loaded in %.0f s" % (time.time() - t0), flush=True)

train_text, valid_text = load_text(a.corpus)
train_ids = tok(train_text, add_special_tokens=False).input_ids
kjv_ids = tok(valid_text, add_special_tokens=False).input_ids
decl_ids = tok(open(os.path.join(ROOT, "Tests/Fixtures/perplexity/declaration.txt")).read(),
               add_special_tokens=False).input_ids
step = len(train_ids) // 6
calib = [[2] + train_ids[i * step:i * step + CTX - 1] for i in range(6)]
evals = [kjv_ids[8 * (CTX - 1):9 * (CTX - 1)], decl_ids[len(decl_ids) - CTX + 1:]]


@torch.no_grad()
def perplexity():
    nll, n = 0.0, 0
    for c in evals:
        ids = torch.tensor([[2] + c])
        lp = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
        nll -= float(lp.gather(1, ids[0, 1:, None]).sum())
        n += ids.shape[1] - 1
    return math.exp(nll / n)


def dense():
    for l, f in zip(model.model.layers, dense_forwards):
        l.mlp.forward = f


results = []


def evaluate(name, overlays):
    dense()
    counter = {"active": 0, "total": 0}
    if overlays is not None:
        sparkify.patch_model(model, overlays, counter)
    r = {"setting": name, "ppl": round(perplexity(), 3)}
    if counter["total"]:
        r["active"] = round(counter["active"] / counter["total"], 4)
    results.append(r)
    print(r, "%.0f s" % (time.time() - t0), flush=True)
    dense()


fractions = sorted({float(f) for f in a.write.split(",") if f} | ({0.5, 0.25, 0.1} if a.evaluate else set()), reverse=True)
if a.evaluate:
    evaluate("dense", None)
for f in fractions:
    overlays = sparkify.fit_model(model, calib, f, a.rank)
    print("fitted f=%g in %.0f s" % (f, time.time() - t0), flush=True)
    if a.evaluate:
        evaluate("sparkified f=%g r=%d" % (f, a.rank), overlays)
        if f == 0.25 and a.rank:
            # The predictor's share of the loss: the same fit with the exact gate (rank = d).
            evaluate("sparkified f=%g exact gate" % f, sparkify.fit_model(model, calib, f, model.config.hidden_size))
    if "%g" % f in [("%g" % float(w)) for w in a.write.split(",") if w]:
        # Rank 0 (selection from the exact gate) is told apart by a "-gate" suffix.
        path = os.path.join(a.models, FILE.replace(".gguf", ".sparkify-f%g%s.safetensors" % (f, "" if a.rank else "-gate")))
        meta = sparkify.overlay_metadata(FILE, os.path.getsize(os.path.join(a.models, FILE)), f, a.rank,
                                         sum(len(c) for c in calib))
        save_file(sparkify.overlay_tensors(overlays), path + ".tmp", metadata=meta)
        os.replace(path + ".tmp", path)
        print("wrote", path, flush=True)

json.dump({"calibration_tokens": sum(len(c) for c in calib), "eval_tokens": sum(len(c) for c in evals),
           "rank": a.rank, "results": results}, open(a.out, "w"), indent=1)
