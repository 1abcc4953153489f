"""Prepares the test helpdesk: the API user Switchboard writes as (staff, with a
token), an agent, two staff tickets can be assigned to (fatima, daniel), and
three queues. Prints the users' ids and tokens and the queue ids as JSON."""
import json
import os

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from helpdesk.models import Queue  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

User = get_user_model()
users = {}
for name in ("switchboard", "agent", "fatima", "daniel"):
    user, _ = User.objects.get_or_create(username=name, defaults={"is_staff": True, "is_superuser": True, "email": f"{name}@example.com"})
    token, _ = Token.objects.get_or_create(user=user)
    users[name] = {"id": user.id, "token": token.key}
queues = {}
for title, slug in (("Service Desk", "service-desk"), ("Network", "network"), ("Desktop Support", "desktop")):
    queue, _ = Queue.objects.get_or_create(slug=slug, defaults={"title": title, "allow_public_submission": True})
    queues[title] = queue.id
print(json.dumps({"users": users, "queues": queues}))
