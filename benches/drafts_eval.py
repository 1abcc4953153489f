#!/usr/bin/env python3
"""Drafts on held-out tickets with known resolutions, through a running server.

For each row of HELDOUT (CSV with id, title, description, resolution): triage it
with its id (agent token, so it is remembered), ask for a draft, and score it:
  - drafted: share of tickets with a draft (the rest: no_draft, with a reason)
  - cited: share of tickets whose draft has at least one valid citation
  - supported_before_filter: share of the sentences the backend wrote that a
    passage they cite supports (share of content words >= drafts.min_support)
  - recited: share of written sentences kept only by citing another passage
  - invented: citations to ids not among the evidence, before the filter
  - rouge_l: ROUGE-L F1 of the draft (citations removed) against the true
    resolution, over drafted tickets and over all (no draft scores 0)
  - latency p50 / p95 of the draft request, server-side and as the client saw it
Prints one JSON line. Usage: drafts_eval.py URL TOKEN HELDOUT LABEL
"""
import csv
import json
import re
import sys
import time
import urllib.request


def call(url, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def tokens(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def rouge_l(candidate, reference):
    a, b = tokens(candidate), tokens(reference)
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def percentile(values, p):
    values = sorted(values)
    if not values:
        return None
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return round(values[k], 1)


def main():
    base, token, heldout, label = sys.argv[1:5]
    rows = list(csv.DictReader(open(heldout, newline="")))
    written = dropped = recited = invented = drafted = cited = 0
    rouge_drafted, server_ms, client_ms = [], [], []
    reasons = {}
    for row in rows:
        ticket_id = f"HELD-{row['id']}"
        call(f"{base}/v1/triage", token, {"id": ticket_id, "title": row["title"], "description": row["description"]})
        started = time.perf_counter()
        draft = call(f"{base}/v1/tickets/{ticket_id}/draft", token, {})
        client_ms.append((time.perf_counter() - started) * 1000)
        server_ms.append(draft["latency_ms"])
        checks = draft["checks"]
        written += checks["sentences_written"]
        dropped += checks["sentences_dropped"]
        recited += checks["sentences_recited"]
        invented += len(checks["invented_citations"])
        if draft["status"] == "drafted":
            drafted += 1
            cited += bool(draft["citations"])
            text = " ".join(s["text"] for s in draft["sentences"])
            rouge_drafted.append(rouge_l(text, row["resolution"]))
        else:
            reason = draft["reason"].split(":")[0][:60]
            reasons[reason] = reasons.get(reason, 0) + 1
    n = len(rows)
    summary = {
        "backend": label,
        "model": draft["model"],
        "tickets": n,
        "drafted": round(drafted / n, 3),
        "cited": round(cited / n, 3),
        "sentences_written": written,
        "supported_before_filter": round((written - dropped - recited) / written, 3) if written else None,
        "recited": round(recited / written, 3) if written else None,
        "invented_citations": invented,
        "rouge_l_drafted": round(sum(rouge_drafted) / len(rouge_drafted), 3) if rouge_drafted else None,
        "rouge_l_all": round(sum(rouge_drafted) / n, 3),
        "server_ms_p50": percentile(server_ms, 50),
        "server_ms_p95": percentile(server_ms, 95),
        "client_ms_p50": percentile(client_ms, 50),
        "client_ms_p95": percentile(client_ms, 95),
        "no_draft_reasons": reasons,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
