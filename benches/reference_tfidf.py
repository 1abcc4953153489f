"""Reference classifier for `switchboard eval`: TF-IDF + linear SVM (accuracy,
macro-F1) and TF-IDF + logistic regression (coverage at a target precision,
threshold picked on the same calibration split as `switchboard eval`).

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


def is_calibration(ticket_id, share):
    digest = hashlib.sha256(ticket_id.encode()).digest()
    return int.from_bytes(digest[:2], "big") / 65535 < share


def vectorizer():
    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)


def coverage_at_precision(train_texts, train_y, ids, test_texts, test_y, target, share):
    cal = np.array([is_calibration(i, share) for i in ids])
    fit_x = [t for t, c in zip(train_texts, cal) if not c]
    fit_y = [y for y, c in zip(train_y, cal) if not c]
    cal_x = [t for t, c in zip(train_texts, cal) if c]
    cal_y = np.array([y for y, c in zip(train_y, cal) if c])
    vec = vectorizer()
    model = LogisticRegression(C=10.0, max_iter=2000)
    model.fit(vec.fit_transform(fit_x), fit_y)

    def scored(texts):
        p = model.predict_proba(vec.transform(texts))
        return model.classes_[p.argmax(1)], p.max(1)

    cal_pred, cal_conf = scored(cal_x)
    threshold = 1.0
    for t in np.arange(0.0, 1.0001, 0.01):
        chosen = cal_conf >= t
        if chosen.sum() and (cal_pred[chosen] == cal_y[chosen]).mean() >= target:
            threshold = t
            break
    test_pred, test_conf = scored(test_texts)
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
    parser.add_argument("--calibration-share", type=float, default=0.2)
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
            x, y, ids, tx, ty, args.target_precision, args.calibration_share
        )
        print(
            f"{label}: tfidf+linear_svm accuracy={accuracy_score(ty, pred):.4f} "
            f"macro_f1={f1_score(ty, pred, average='macro'):.4f} | tfidf+logreg at precision "
            f"{args.target_precision}: threshold={threshold:.2f} coverage={coverage:.4f} "
            f"precision={precision:.4f}"
        )


if __name__ == "__main__":
    main()
