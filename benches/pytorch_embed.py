"""sentence-transformers on PyTorch over the texts `switchboard bench embed --texts-out` wrote.

Prints one line in the same format as `switchboard bench embed`, so the two can be compared.
"""
import argparse
import json
import time

import torch
from sentence_transformers import SentenceTransformer

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--texts", required=True)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--repeat", type=int, default=1)
args = parser.parse_args()

torch.set_num_threads(args.threads)
with open(args.texts, encoding="utf-8") as f:
    texts = [json.loads(line) for line in f if line.strip()]
model = SentenceTransformer(args.model, device="cpu")
tokens = sum(
    len(ids)
    for ids in model.tokenizer(
        texts, truncation=True, max_length=model.max_seq_length
    )["input_ids"]
)
model.encode(texts[: args.batch], batch_size=args.batch)
best = float("inf")
for _ in range(args.repeat):
    started = time.perf_counter()
    model.encode(texts, batch_size=args.batch)
    best = min(best, time.perf_counter() - started)
print(
    f"texts={len(texts)} batch={args.batch} threads={torch.get_num_threads()} "
    f"mean_tokens={tokens / len(texts):.1f} texts_per_s={len(texts) / best:.1f} "
    f"tokens_per_s={tokens / best:.0f} ms_per_text={1000 * best / len(texts):.2f}"
)
