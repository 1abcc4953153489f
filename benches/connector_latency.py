"""Event-to-write-back latency and throughput of a connector, on demand.

Plays the ticketing system twice over: sends signed events to
`POST /v1/hooks/bench` and records, in its own small HTTP server, when each
ticket's write-back arrives. Prints p50 / p99 of the time between sending an
event and receiving its write-back, and events per second over the whole run.
Run through benches/connector-latency.sh, which starts the Switchboard server.
"""
import argparse
import csv
import hashlib
import hmac
import http.server
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

received = {}
lock = threading.Lock()


class Recorder(http.server.BaseHTTPRequestHandler):
    def do_PATCH(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            received.setdefault(body["ticket"], time.perf_counter())
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


BUILT_IN = [
    (title, "Since this morning it fails every few minutes for everyone on floor 3.")
    for title in ["VPN keeps dropping", "Printer offline", "Outlook asks for password"]
]


def send(base, key, n, sent, tickets=BUILT_IN):
    ticket = f"B{n}"
    title, description = tickets[n % len(tickets)]
    body = json.dumps({
        "ticket": {
            "id": ticket, "updated_at": str(n),
            "title": title,
            "description": description,
        }
    }).encode()
    signature = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{base}/v1/hooks/bench", data=body, method="POST",
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    sent[ticket] = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 202, answer.status


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--switchboard", required=True)
    parser.add_argument("--recorder-port", type=int, required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--interval-ms", type=float, default=0, help="pause between a sender's events")
    parser.add_argument("--tickets", help="CSV with short_description and description columns")
    args = parser.parse_args()
    tickets = BUILT_IN
    if args.tickets:
        with open(args.tickets, newline="") as f:
            tickets = [
                (row["short_description"] or row["description"][:80], row["description"])
                for row in csv.DictReader(f)
            ]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.recorder_port), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sent = {}
    started = time.perf_counter()
    def paced(n):
        send(args.switchboard, args.key, n, sent, tickets)
        time.sleep(args.interval_ms / 1000)

    with ThreadPoolExecutor(args.senders) as pool:
        list(pool.map(paced, range(args.events)))
    deadline = time.time() + 300
    while len(received) < args.events and time.time() < deadline:
        time.sleep(0.05)
    finished = max(received.values())
    latencies = sorted(received[t] - sent[t] for t in received)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(
        f"events={args.events} senders={args.senders} interval_ms={args.interval_ms:g} written_back={len(received)} "
        f"p50_ms={pick(0.5):.1f} p99_ms={pick(0.99):.1f} events_per_s={len(received) / (finished - started):.1f}"
    )
    server.shutdown()


if __name__ == "__main__":
    main()
