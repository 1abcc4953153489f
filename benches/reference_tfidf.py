"""Reference classifier for `switchboard eval`: TF-IDF + linear SVM (accuracy,
macro-F1) and TF-IDF + logistic regression (coverage at a target precision,
threshold picked on cross-fitted training predictions over the same folds as
`switchboard eval`).

Run through benches/reference-tfidf.sh, which makes a throw-away virtualenv.
Usage: reference_tfidf.py TRAIN TEST LABEL [LABEL ...] [--target-precision 0.9]
"""

import argparse
import csv
import hashlib

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import LinearSVC

TITLE = ("title", "short_description", "subject", "summary")
BODY = ("description", "body", "text", "details")


def read(path):
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.DictReader(f))
    header = rows[0].keys()
    title = next((c for c in TITLE if c in header), None)
    body = next((c for c in BODY if c in header), None)
    texts = [f"{r.get(title, '') or ''}\n{r.get(body, '') or ''}" for r in rows]
    return rows, texts


def fold_of(ticket_id, folds):
    digest = hashlib.sha256(ticket_id.encode()).digest()
    return int.from_bytes(digest[:2], "big") * folds // 65536


def vectorizer():
    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)


def fit_logreg(texts, labels):
    vec = vectorizer()
    model = LogisticRegression(C=10.0, max_iter=2000)
    model.fit(vec.fit_transform(texts), labels)

    def scored(query):
        p = model.predict_proba(vec.transform(query))
        return model.classes_[p.argmax(1)], p.max(1)

    return scored


def coverage_at_precision(train_texts, train_y, ids, test_texts, test_y, target, folds):
    fold = np.array([fold_of(i, folds) for i in ids])
    train_texts = np.array(train_texts, dtype=object)
    train_y = np.array(train_y, dtype=object)
    cal_pred = np.empty(len(train_y), dtype=object)
    cal_conf = np.zeros(len(train_y))
    for f in range(folds):
        held = fold == f
        if held.any():
            scored = fit_logreg(list(train_texts[~held]), list(train_y[~held]))
            cal_pred[held], cal_conf[held] = scored(list(train_texts[held]))
    threshold = 1.0
    for t in np.arange(0.0, 1.0001, 0.01):
        chosen = cal_conf >= t
        if chosen.sum() and (cal_pred[chosen] == train_y[chosen]).mean() >= target:
            threshold = t
            break
    test_pred, test_conf = fit_logreg(list(train_texts), list(train_y))(test_texts)
    chosen = test_conf >= threshold
    test_y = np.array(test_y)
    coverage = chosen.mean()
    precision = (test_pred[chosen] == test_y[chosen]).mean() if chosen.sum() else 0.0
    return threshold, coverage, precision


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("labels", nargs="+")
    parser.add_argument("--target-precision", type=float, default=0.9)
    parser.add_argument("--calibration-folds", type=int, default=10)
    args = parser.parse_args()
    train_rows, train_texts = read(args.train)
    test_rows, test_texts = read(args.test)
    for label in args.labels:
        train = [(t, r[label], r["id"]) for t, r in zip(train_texts, train_rows) if r.get(label)]
        test = [(t, r[label]) for t, r in zip(test_texts, test_rows) if r.get(label)]
        x, y, ids = zip(*train)
        tx, ty = zip(*test)
        vec = vectorizer()
        svm = LinearSVC(C=1.0)
        svm.fit(vec.fit_transform(x), y)
        pred = svm.predict(vec.transform(tx))
        threshold, coverage, precision = coverage_at_precision(
            x, y, ids, tx, ty, args.target_precision, args.calibration_folds
        )
        print(
            f"{label}: tfidf+linear_svm accuracy={accuracy_score(ty, pred):.4f} "
            f"macro_f1={f1_score(ty, pred, average='macro'):.4f} | tfidf+logreg at precision "
            f"{args.target_precision}: threshold={threshold:.2f} coverage={coverage:.4f} "
            f"precision={precision:.4f}"
        )


if __name__ == "__main__":
    main()
