"""The loop gitlab_act.py and github_act.py share: read {"acts": [...], ...} on stdin, run each act with a client
made once per token, and print one JSON list of answers: {"ok": true, "value": ...} or {"ok": false, "status", "message"}.
"""
import json
import sys


def run(make_client, act, refusal, answer):
    """`make_client(request, token)`, `act(client, request, a, opened)`; `refusal` is the client's error type and
    `answer(error)` turns one into (status, message)."""
    req = json.load(sys.stdin)
    out = []
    clients = {}
    opened = []
    for a in req["acts"]:
        client = clients.get(a["token"])
        if client is None:
            client = clients[a["token"]] = make_client(req, a["token"])
        try:
            out.append({"ok": True, "value": act(client, req, a, opened)})
        except refusal as e:
            status, message = answer(e)
            out.append({"ok": False, "status": status, "message": message})
    json.dump(out, sys.stdout)
