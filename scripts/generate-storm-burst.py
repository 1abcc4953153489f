#!/usr/bin/env python3
"""Writes sample/storm-burst.csv: 40 tickets, written for the storm test, that
people at one site raise within minutes when the mail gateway fails. They
differ in wording, detail and length, as real tickets about one outage do.
Deterministic (fixed seed)."""
import csv
import random
from pathlib import Path

random.seed(21)
people = ["Ana Costa", "Ben Okafor", "Chen Wei", "Dana Kim", "Eli Novak", "Fatima Ali", "Gus Moreau",
          "Hana Sato", "Ivan Petrov", "Jana Horak", "Kofi Mensah", "Lena Vogel", "Marco Rossi", "Nina Berg"]
titles = [
    "Outlook cannot connect to the mail server",
    "Email not working since a few minutes",
    "Outlook says disconnected",
    "Cannot send or receive email",
    "Mail stuck in outbox",
    "Outlook: trying to connect...",
    "No new emails arriving",
    "Exchange server unavailable?",
    "Email down for the whole office",
    "Outlook keeps showing disconnected from server",
]
bodies = [
    "Outlook shows 'Disconnected' in the status bar and nothing is sent or received.",
    "Since about {t} my Outlook cannot reach the Exchange server. Mails stay in the outbox.",
    "I cannot send any email, Outlook says it is trying to connect to the server.",
    "Nobody on our floor receives email, Outlook is offline. Webmail gives an error too.",
    "Email stopped working: 'The connection to Microsoft Exchange is unavailable'.",
    "My mails are stuck in the outbox and Outlook says disconnected. Restarted twice.",
    "Outlook cannot connect to the mail server; colleagues next to me have the same problem.",
    "Exchange connection lost, Outlook offline since {t}. Urgent customer mails waiting.",
]
extras = ["", " Restarting the laptop did not help.", " Teams still works.", " Please help, urgent.",
          " Same for my colleague.", " I am in building B, 3rd floor."]
rows = []
for n in range(40):
    minute = 5 + n // 4
    body = random.choice(bodies).format(t=f"09:{minute:02d}") + random.choice(extras)
    rows.append({
        "id": f"STORM-{n + 1:02d}",
        "title": random.choice(titles),
        "description": f"{random.choice(people)} reports: {body}",
        "caller": random.choice(people),
        "minute": n * 12 // 40 * 1.0 + (n % 3) * 0.2,
    })
out = Path(__file__).resolve().parent.parent / "sample" / "storm-burst.csv"
with out.open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=["id", "title", "description", "caller", "minute"])
    writer.writeheader()
    writer.writerows(rows)
print(f"wrote {len(rows)} tickets to {out}")
