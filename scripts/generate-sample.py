#!/usr/bin/env python3
"""Writes sample/incidents.csv: realistic, invented service desk incidents for demos and tests.

Seeded, so the file is reproducible: `python3 scripts/generate-sample.py`.
"""
import csv
import random
from pathlib import Path

random.seed(20261125)
USERS = ["Maria Lopez", "Tom Becker", "Aisha Khan", "Jonas Meyer", "Li Wei", "Sven Olsen",
         "Priya Natarajan", "Carlos Diaz", "Emma Wilson", "Yusuf Demir", "Anna Kowalska", "Kenji Sato"]
SITES = ["Berlin office", "Lyon plant", "Chicago HQ", "Pune campus", "warehouse 3", "Madrid branch"]
HOSTS = ["app-prd-01", "app-prd-02", "web-prd-03", "db-prd-01", "db-prd-02", "files-01", "batch-02", "erp-app-04"]
APPS = ["SAP ERP", "Salesforce", "Workday", "the intranet portal", "Jira", "the payroll app"]

# category -> (assignment group, assignees, [(title, description, resolution, priority)])
CATALOG = {
    "network": ("Network Operations", ["Daniel Roth", "Fatima Ali"], [
        ("VPN connection drops every few minutes",
         "{user} from {site} reports that the GlobalProtect VPN disconnects every 5-10 minutes while working from home. Reconnecting works but drops again.",
         "Gateway {site} was overloaded; moved user to the secondary VPN gateway and raised the idle timeout. Stable since.", "3 - Moderate"),
        ("Cannot connect to VPN: authentication failed",
         "VPN client says 'authentication failed' for {user} although the password works for e-mail. Started this morning.",
         "User certificate for the VPN had expired; reissued the machine certificate through the MDM portal and the client connected.", "3 - Moderate"),
        ("Wi-Fi very slow in {site}",
         "Several people in {site} complain that the corporate Wi-Fi is extremely slow since Monday; speed tests show under 2 Mbit/s.",
         "One access point on floor 2 was on a crowded channel; re-planned channels and rebooted the AP. Throughput back to normal.", "3 - Moderate"),
        ("Network outage in {site}",
         "Nobody in {site} can reach any internal system or the internet. Phones on the network are down too.",
         "Core switch in {site} lost power after a PSU failure; failed over to redundant PSU and replaced the faulty unit.", "1 - Critical"),
        ("DNS does not resolve internal hostnames",
         "{user} cannot open intranet pages by name; by IP address it works. nslookup times out for {host}.",
         "Client was using a stale DNS server from a hotel network; flushed DNS cache and restored the DHCP-assigned resolvers.", "3 - Moderate"),
        ("Request firewall rule for new supplier API",
         "Please open outbound HTTPS from {host} to the supplier's API endpoint for the new integration. Change ticket is approved.",
         "Firewall rule created for {host} to the supplier range on port 443 and documented in the rule base.", "4 - Low"),
    ]),
    "access": ("Identity & Access", ["Nina Hoffmann", "Raj Patel"], [
        ("Account locked out",
         "{user} is locked out of Windows after too many wrong password attempts and cannot log in.",
         "Unlocked the AD account, verified identity by callback and advised the user to update the saved password on the phone.", "3 - Moderate"),
        ("Password reset needed",
         "{user} forgot the domain password after holidays and needs a reset to log in.",
         "Reset the password after identity verification; user set a new password at first logon.", "4 - Low"),
        ("MFA prompt not arriving on phone",
         "{user} does not receive the Authenticator push notification after changing phones and cannot sign in to Office 365.",
         "Removed the old device registration and re-enrolled the Authenticator app on the new phone.", "3 - Moderate"),
        ("Access request to shared finance drive",
         "Please grant {user} read/write access to the Finance share on files-01. Manager approval attached.",
         "Added the user to the FIN-Share-RW group after manager approval; access confirmed.", "4 - Low"),
        ("New joiner account setup",
         "{user} starts next Monday in {site}. Needs AD account, e-mail and access to {app}.",
         "Created AD account, mailbox and {app} role from the joiner template; credentials sent to the line manager.", "4 - Low"),
    ]),
    "email": ("Messaging & Collaboration", ["Oliver Grant", "Sofia Rossi"], [
        ("Outlook not syncing new mail",
         "{user}'s Outlook shows 'Disconnected' and no new e-mails have arrived since this morning. Webmail works.",
         "Corrupt OST file; renamed it and let Outlook rebuild the cache. Mail syncing again.", "3 - Moderate"),
        ("Mailbox full, cannot send e-mails",
         "{user} gets 'mailbox is full' warnings and can no longer send messages.",
         "Enabled the online archive and applied the 2-year archive policy; mailbox now at 40% of quota.", "3 - Moderate"),
        ("Teams meeting audio not working",
         "In Teams meetings others cannot hear {user}; the headset works in other apps.",
         "Teams was using the laptop's disabled internal mic; selected the headset in device settings and updated the audio driver.", "4 - Low"),
        ("Shared calendar not visible",
         "{user} cannot see the team's shared calendar anymore in Outlook.",
         "Calendar permissions had been reset during migration; re-granted reviewer rights to the team group.", "4 - Low"),
        ("Suspicious e-mail received - possible phishing",
         "{user} received an e-mail asking to confirm payroll details via an external link. Did not click it.",
         "Forwarded to Security Operations; message purged from all mailboxes and sender domain blocked.", "2 - High"),
    ]),
    "hardware": ("Desktop Support", ["Lukas Brandt", "Grace Kim"], [
        ("Laptop does not boot",
         "{user}'s laptop shows a black screen after the logo and does not start Windows.",
         "SSD failure detected by diagnostics; replaced the drive and re-imaged the laptop, user data restored from OneDrive.", "2 - High"),
        ("Printer jammed on floor 2 in {site}",
         "The main printer on floor 2 in {site} shows paper jam in tray 2 and nobody can print.",
         "Removed jammed paper from tray 2 and the fuser area, replaced worn pickup roller.", "4 - Low"),
        ("External monitor flickering",
         "The external monitor flickers constantly when connected through the docking station.",
         "Updated the docking station firmware and display driver; replaced the DisplayPort cable.", "4 - Low"),
        ("Docking station not detected",
         "{user}'s laptop no longer detects the docking station: no network, no monitors, no charging.",
         "Dock firmware update and power reset fixed detection; BIOS Thunderbolt security set to the standard profile.", "3 - Moderate"),
        ("Keyboard keys not working",
         "Several keys on {user}'s laptop keyboard stopped working after a coffee spill.",
         "Liquid damage; keyboard replaced under the accidental damage warranty.", "4 - Low"),
    ]),
    "application": ("ERP Support", ["Markus Weber", "Elena Petrova"], [
        ("SAP login error: user locked",
         "{user} gets 'user is locked, contact administrator' when logging in to SAP ERP.",
         "Unlocked the SAP user in SU01 and reset the initial password.", "3 - Moderate"),
        ("Invoice posting fails in SAP",
         "Posting supplier invoices fails with error 'period not open' for the accounts payable team.",
         "Posting period for the company code was not opened; opened the period in OB52 together with finance.", "2 - High"),
        ("Month-end report running very slowly",
         "The month-end financial report in {app} takes over an hour instead of 5 minutes.",
         "Missing database statistics after upgrade; refreshed statistics and the report completes in 4 minutes.", "3 - Moderate"),
        ("Error when approving purchase orders in {app}",
         "Approvers get 'workflow item not found' when approving purchase orders.",
         "Workflow event queue was stuck; restarted the event queue job and re-triggered pending items.", "2 - High"),
        ("{app} shows blank page after update",
         "Since the weekend update {app} only shows a blank white page for {user}.",
         "Browser cache held old scripts; cleared cache and pushed a cache-busting policy to all clients.", "4 - Low"),
    ]),
    "server": ("Server Operations", ["Hannah Schulz", "Victor Nguyen"], [
        ("Disk space critical on {host}",
         "Monitoring alert: filesystem /var on {host} is 95% full and growing.",
         "Old application logs were not rotated; compressed and removed logs older than 14 days and fixed the logrotate config.", "2 - High"),
        ("Service down on {host}",
         "Monitoring reports the application service on {host} is not responding to health checks.",
         "Service had crashed after running out of memory; restarted the service and raised the JVM heap limit.", "1 - Critical"),
        ("High CPU usage alert on {host}",
         "Alert: CPU above 95% for 30 minutes on {host}. Users report slowness.",
         "A runaway batch job was looping; killed the job, fixed its input file and rescheduled it.", "2 - High"),
        ("Nightly backup job failed on {host}",
         "Backup report shows the nightly backup of {host} failed with 'snapshot timeout'.",
         "VSS writer was stuck; restarted the writer service and re-ran the backup successfully.", "3 - Moderate"),
        ("SSL certificate expiring on {host}",
         "Certificate monitoring: TLS certificate on {host} expires in 7 days.",
         "Renewed the certificate through the internal CA and deployed it; monitoring green.", "3 - Moderate"),
    ]),
    "database": ("Database Administration", ["Irina Volkova", "Ahmed Hassan"], [
        ("Database connection pool exhausted",
         "Application logs on {host} show 'too many connections' errors against db-prd-01.",
         "Leaking connections from a new release; raised max_connections temporarily and the app team deployed the fix.", "2 - High"),
        ("Slow queries on reporting database",
         "Queries on the reporting database take minutes since yesterday; dashboards time out.",
         "A missing index after schema change; recreated the index and analyzed the table.", "3 - Moderate"),
        ("Replication lag on db-prd-02",
         "Alert: replica db-prd-02 is 40 minutes behind the primary.",
         "Long-running transaction blocked replay; terminated it and the replica caught up.", "2 - High"),
        ("Database restore request",
         "Please restore yesterday's copy of the test database for the QA team.",
         "Restored the nightly dump into the QA instance and verified row counts.", "4 - Low"),
    ]),
    "security": ("Security Operations", ["Julia Fischer", "Omar Farouk"], [
        ("Malware detected on laptop",
         "Endpoint protection alert: trojan detected and quarantined on {user}'s laptop.",
         "Isolated the device, ran a full scan and re-imaged it as a precaution; password reset for the user.", "2 - High"),
        ("Suspicious sign-in from unknown country",
         "Identity protection flagged a sign-in for {user} from an unusual location.",
         "Confirmed it was not the user; revoked sessions, reset password and enforced MFA re-registration.", "1 - Critical"),
        ("USB storage blocked",
         "{user} cannot use a USB stick to copy presentation files; Windows says access denied.",
         "Working as designed by the removable media policy; provided a secure file transfer link instead.", "4 - Low"),
        ("Request security review of new SaaS tool",
         "Marketing wants to use a new SaaS tool; please review it for data protection.",
         "Completed vendor security questionnaire review; approved with SSO enforcement.", "4 - Low"),
    ]),
}

PHRASES = ["", " Please help.", " This is urgent.", " Started after the latest update.", " Several colleagues have the same problem.",
           " Rebooting did not help.", " Ticket raised by phone.", " User is travelling this week."]

rows = []
n = 0
for category, (group, assignees, templates) in CATALOG.items():
    for _ in range(40):
        title, description, resolution, priority = random.choice(templates)
        slots = {"user": random.choice(USERS), "site": random.choice(SITES), "host": random.choice(HOSTS), "app": random.choice(APPS)}
        n += 1
        day = 1 + (n % 28)
        rows.append({
            "id": f"INC{10000 + n:07d}",
            "title": title.format(**slots),
            "description": description.format(**slots) + random.choice(PHRASES),
            "resolution": resolution.format(**slots),
            "category": category,
            "assignment_group": group,
            "assignee": random.choice(assignees),
            "priority": priority,
            "opened_at": f"2026-09-{day:02d}T{8 + n % 9:02d}:{n % 60:02d}:00Z",
            "resolved_at": f"2026-09-{day:02d}T{12 + n % 9:02d}:{(n * 7) % 60:02d}:00Z",
        })
random.shuffle(rows)
out = Path(__file__).resolve().parent.parent / "sample" / "incidents.csv"
with out.open("w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    writer.writeheader()
    writer.writerows(rows)
print(f"wrote {len(rows)} incidents to {out}")
