"""Training-free "sparkified" Gemma 3 270M, evaluated in PyTorch.

Statistical top-k on the FFN gate (Gemma 3n's gaussian top-k) needs the whole gate
pre-activation g = W_g x, i.e. it still reads all of W_g (1/3 of the FFN bytes). A
low-rank predictor ĝ = A (B x) (rank r ≪ d) picks the active set instead, so only the
active rows of W_g, W_up and columns of W_down are read:

  θ̂ = mean(ĝ) + std(ĝ)·Φ⁻¹(1 − f),   S = {i : ĝᵢ > θ̂},   hᵢ = gelu(max(gᵢ − θ̂, 0)) · upᵢ(x)  for i ∈ S

Fit: reduced-rank regression of g on x over calibration tokens. With Σ = E[x xᵀ] the
best rank-r map in E‖W x − A B x‖² is A = U_r, B = U_rᵀ W where U_r are the top left
singular vectors of W Σ^{1/2} (not of W: directions of x that never occur cost
nothing). Chosen over a generalized-eigenvector fit because the objective is exactly
the predictor's error on real inputs, closed form, one SVD per layer.

  python sparkify_gemma.py MODELS_DIR CORPUS_DIR OUT.json

Soft threshold (Spark's max(g − θ, 0), set SOFT=1) versus hard (gelu(g) on the chosen
set): measured here, soft on an untrained-for-it model wrecks perplexity.
Reports per setting: perplexity on held-out text (every position, chunks of 512),
active fraction, and recall of the exact stat-top-k set by the predicted set.
Writes the rank-64 predictors to CORPUS_DIR/gemma-3-270m-gate-predictor-r64.safetensors.
"""
import json
import math
import os
import sys
import time
from statistics import NormalDist

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

MODELS, CORPUS, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILE = "gemma-3-270m-q4_k_m.gguf"
CTX = 512
torch.set_num_threads(2)
t0 = time.time()
tok = AutoTokenizer.from_pretrained(MODELS, gguf_file=FILE)
model = AutoModelForCausalLM.from_pretrained(MODELS, gguf_file=FILE, torch_dtype=torch.float32,
                                             attn_implementation="eager").eval()
layers = model.model.layers
print("loaded in %.0f s" % (time.time() - t0), flush=True)

kjv = open(os.path.join(CORPUS, "kjv-valid.txt")).read()
decl = open(os.path.join(ROOT, "Tests/Fixtures/perplexity/declaration.txt")).read()
kjv_ids = tok(kjv, add_special_tokens=False).input_ids
decl_ids = tok(decl, add_special_tokens=False).input_ids
# Calibration: the first 2 chunks of the held-out KJV text and the first half of the
# Declaration; evaluation: later KJV text and the Declaration's second half (unseen).
calib = [kjv_ids[i * CTX:(i + 1) * CTX - 1] for i in range(2)] + [decl_ids[:CTX - 1]]
evals = [kjv_ids[3 * CTX:4 * CTX - 1], decl_ids[len(decl_ids) - CTX + 1:]]

mode = {"kind": "dense"}
captured = [[] for _ in layers]
stats = {"active": 0, "total": 0, "hit": 0, "exact": 0}


def make_forward(li, mlp):
    def forward(x):
        k = mode["kind"]
        g = mlp.gate_proj(x)
        if k == "capture":
            captured[li].append(x.reshape(-1, x.shape[-1]).detach().clone())
        if k in ("dense", "capture"):
            return mlp.down_proj(F.gelu(g, approximate="tanh") * mlp.up_proj(x))
        z = NormalDist().inv_cdf(1 - mode["f"])
        theta = g.mean(-1, keepdim=True) + g.var(-1, keepdim=True, unbiased=False).sqrt() * z
        exact = g > theta
        # soft: gelu(max(g − θ, 0)) as Spark / Gemma 3n (trained with it); hard: gelu(g) on
        # the chosen set only, the training-free choice (keeps the values the model learned).
        if k == "stat-topk":
            chosen = exact
            a = torch.relu(g - theta) if mode["soft"] else g * chosen
        else:  # predicted set
            A, B = mode["pred"][li]
            gh = (x @ B.T) @ A.T
            th = gh.mean(-1, keepdim=True) + gh.var(-1, keepdim=True, unbiased=False).sqrt() * z
            chosen = gh > th
            a = torch.relu(g - th) * chosen if mode["soft"] else g * chosen
        stats["active"] += int(chosen.sum()); stats["total"] += chosen.numel()
        stats["hit"] += int((chosen & exact).sum()); stats["exact"] += int(exact.sum())
        return mlp.down_proj(F.gelu(a, approximate="tanh") * mlp.up_proj(x))
    return forward


for li, l in enumerate(layers):
    l.mlp.forward = make_forward(li, l.mlp)


@torch.no_grad()
def ppl(chunks):
    nll, n = 0.0, 0
    for c in chunks:
        ids = torch.tensor([[2] + c])
        lp = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
        nll -= float(lp.gather(1, ids[0, 1:, None]).sum())
        n += ids.shape[1] - 1
    return math.exp(nll / n)


with torch.no_grad():
    mode["kind"] = "capture"
    for c in calib:
        model(torch.tensor([[2] + c]))
print("calibrated in %.0f s" % (time.time() - t0), flush=True)


def fit(rank):
    out = []
    for li, l in enumerate(layers):
        X = torch.cat(captured[li]).double()
        S = X.T @ X / X.shape[0]
        evals_, Q = torch.linalg.eigh(S)
        half = Q @ torch.diag(evals_.clamp_min(0).sqrt()) @ Q.T
        W = l.mlp.gate_proj.weight.double()
        U = torch.linalg.svd(W @ half, full_matrices=False).U[:, :rank]
        out.append((U.float(), (U.T @ W).float()))
    return out


results = []
def run(name, **m):
    mode.clear(); mode.update(m)
    for k in stats: stats[k] = 0
    p = ppl(evals)
    r = {"setting": name, "ppl": round(p, 3)}
    if stats["total"]:
        r["active"] = round(stats["active"] / stats["total"], 4)
        r["recall_of_exact_set"] = round(stats["hit"] / max(1, stats["exact"]), 4)
    results.append(r)
    print(r, "%.0f s" % (time.time() - t0), flush=True)


run("dense", kind="dense")
preds = {r: fit(r) for r in (64, 160)}
for soft in ([True, False] if os.environ.get("SOFT") else [False]):
    name = "soft" if soft else "hard"
    for f in (0.25, 0.08):
        run("%s stat-topk %.2f (full gate)" % (name, f), kind="stat-topk", f=f, soft=soft)
        for r in (64, 160):
            run("%s predicted r=%d %.2f" % (name, r, f), kind="pred", f=f, pred=preds[r], soft=soft)

from safetensors.torch import save_file
save_file({**{"model.layers.%d.mlp.gate_predictor_a.weight" % i: a.contiguous() for i, (a, _) in enumerate(preds[64])},
           **{"model.layers.%d.mlp.gate_predictor_b.weight" % i: b.contiguous() for i, (_, b) in enumerate(preds[64])}},
          os.path.join(CORPUS, "gemma-3-270m-gate-predictor-r64.safetensors"))
json.dump({"eval_tokens": sum(len(c) for c in evals), "calibration_tokens": sum(len(c) for c in calib),
           "results": results}, open(OUT, "w"), indent=1)
