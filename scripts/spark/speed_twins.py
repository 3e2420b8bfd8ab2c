"""Random-weight Spark model and dense twin at Gemma 3 270M's layer sizes (d 640,
18 layers in the 5:1 local/global pattern, 4 query heads on 1 KV head of 256 dims),
with a small 4096-token vocabulary so that the layers, not the LM head, dominate the
bytes a decoded token reads. Weights are random (no quality claim): these two exist
to time decoding and count FLOPs where Spark's sparsity should pay.

  python speed_twins.py OUT_DIR [tokenizer.model]

Dense FFN width 2048 (Gemma 3 270M's); Spark width 3072 = 1.5x (same parameter
count), r = 160 (d/4), 8% active, r_a = 64 (head_dim/4), at most 256 keys.
"""
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spark_model import SparkConfig, SparkLM  # noqa: E402

out = sys.argv[1]
tok = sys.argv[2] if len(sys.argv) > 2 else None
common = dict(vocab_size=4096, hidden_size=640, num_hidden_layers=18, num_attention_heads=4, num_key_value_heads=1,
              head_dim=256, max_position_embeddings=4096, sliding_window=512, query_pre_attn_scalar=256.0)
for name, cfg in [("dense-speed-270m-shape", SparkConfig(spark=False, intermediate_size=2048, **common)),
                  ("spark-speed-270m-shape", SparkConfig(spark=True, intermediate_size=3072, spark_ffn_rank=160,
                                                         spark_ffn_fraction=0.08, spark_attn_rank=64,
                                                         spark_attn_topk=256, **common))]:
    m = SparkLM.initialized(cfg)
    folder = os.path.join(out, name)
    m.save(folder, dtype=torch.float16)
    if tok:
        shutil.copy(tok, os.path.join(folder, "tokenizer.model"))
    print(name, sum(p.numel() for p in m.parameters()), "params")
