"""How far fine-tuning the encoder gets, to decide whether Switchboard should
train its transformer instead of a head over frozen embeddings.

Fine-tunes all-MiniLM-L6-v2 end to end (mean pooling, one linear head per
label, summed cross-entropy, AdamW with warm-up and linear decay) on TRAIN and
prints TEST accuracy per label after every epoch. It then blends the last
epoch's probabilities with the reference TF-IDF logistic regression at weights
0.1-0.9 and prints the best blend: the weight is chosen on TEST itself, so that
figure is an optimistic upper bound, not a result.

Run through benches/finetune-ceiling.sh, which makes a throw-away virtualenv.
Usage: finetune_ceiling.py TRAIN TEST LABEL [LABEL ...] [--epochs 3] [--lr 5e-5]
"""

import argparse
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn
from transformers import AutoModel, AutoTokenizer

from reference_tfidf import read, vectorizer


def batches(size, order):
    for start in range(0, len(order), size):
        yield order[start : start + size]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("labels", nargs="+")
    parser.add_argument("--model", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    train_rows, train_texts = read(args.train)
    test_rows, test_texts = read(args.test)
    classes = {l: sorted({r[l] for r in train_rows if r[l]}) for l in args.labels}
    targets = {
        l: torch.tensor([classes[l].index(r[l]) if r[l] in classes[l] else -100 for r in train_rows])
        for l in args.labels
    }
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    encoder = AutoModel.from_pretrained(args.model)
    heads = nn.ModuleDict({l: nn.Linear(encoder.config.hidden_size, len(c)) for l, c in classes.items()})
    optimiser = torch.optim.AdamW(
        [{"params": encoder.parameters(), "lr": args.lr}, {"params": heads.parameters(), "lr": args.lr * 20}],
        weight_decay=0.01,
    )
    steps = args.epochs * -(-len(train_rows) // args.batch)
    warmup = max(1, int(0.06 * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)

    def embed(texts):
        tokens = tokenizer(texts, padding=True, truncation=True, max_length=args.max_length, return_tensors="pt")
        hidden = encoder(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        return (hidden * mask).sum(1) / mask.sum(1)

    def predict():
        encoder.eval()
        probs = {l: [] for l in args.labels}
        with torch.no_grad():
            for idx in batches(64, np.arange(len(test_texts))):
                pooled = embed([test_texts[i] for i in idx])
                for l in args.labels:
                    probs[l].append(torch.softmax(heads[l](pooled), 1).numpy())
        encoder.train()
        return {l: np.concatenate(p) for l, p in probs.items()}

    def accuracy(label, probs):
        predicted = [classes[label][i] for i in probs.argmax(1)]
        return float(np.mean([p == r[label] for p, r in zip(predicted, test_rows)]))

    started = time.time()
    for epoch in range(args.epochs):
        for idx in batches(args.batch, rng.permutation(len(train_texts))):
            pooled = embed([train_texts[i] for i in idx])
            loss = sum(loss_fn(heads[l](pooled), targets[l][idx]) for l in args.labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        probs = predict()
        scores = "  ".join(f"{l} {accuracy(l, probs[l]):.4f}" for l in args.labels)
        print(f"epoch {epoch + 1}  {time.time() - started:.0f} s  fine-tuned: {scores}", flush=True)

    vec = vectorizer()
    train_x = vec.fit_transform(train_texts)
    test_x = vec.transform(test_texts)
    for l in args.labels:
        labelled = [i for i, r in enumerate(train_rows) if r[l] in classes[l]]
        model = LogisticRegression(C=20, max_iter=3000).fit(train_x[labelled], [train_rows[i][l] for i in labelled])
        reference = np.zeros_like(probs[l])
        reference_probs = model.predict_proba(test_x)
        for j, c in enumerate(model.classes_):
            reference[:, classes[l].index(c)] = reference_probs[:, j]
        best = max((accuracy(l, w * probs[l] + (1 - w) * reference), w) for w in np.arange(0.1, 1.0, 0.1))
        print(
            f"{l}: fine-tuned {accuracy(l, probs[l]):.4f}  TF-IDF logistic regression {accuracy(l, reference):.4f}  "
            f"best blend on the test file (upper bound) {best[0]:.4f} at weight {best[1]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
