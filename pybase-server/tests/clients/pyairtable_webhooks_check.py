"""pyairtable's webhook calls against a running PyBase server's /v0 (AIRTABLE.md §11).

Run by pybase-server/tests/it/v0_clients.rs with the client venv's python:
    PYBASE_URL=... PYBASE_KEY=pbk_... PYBASE_BASE=app... PYBASE_TABLE=tbl... python pyairtable_webhooks_check.py
A receiver on 127.0.0.1 answers the first ping 500 (it must be retried) and
the next ones 204; every ping is verified with
WebhookNotification.from_request. Every check asserts; the script exits
non-zero on the first failure and prints "pyairtable webhooks: N passed, 0 failed".
"""

import base64
import http.server
import os
import sys
import threading
import time

from pyairtable import Api
from pyairtable.models.webhook import WebhookNotification

URL = os.environ["PYBASE_URL"]
KEY = os.environ["PYBASE_KEY"]
BASE = os.environ["PYBASE_BASE"]
TABLE = os.environ["PYBASE_TABLE"]

passed = 0


def check(name, fn):
    global passed
    try:
        fn()
    except Exception:
        print(f"FAILED: {name}", file=sys.stderr)
        raise
    passed += 1
    print(f"ok {name}")


pings = []  # (body, header) of every ping answered 204
failed = []  # pings answered 500
lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode("ascii")
        header = self.headers.get("X-Airtable-Content-MAC", "")
        with lock:
            if not failed:
                failed.append((body, header))
                self.send_response(500)
                self.end_headers()
                return
            pings.append((body, header))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"

api = Api(KEY, endpoint_url=URL)
base = api.base(BASE)
table = api.table(BASE, TABLE)
fields = {f.name: f.id for f in table.schema(force=True).fields}
state = {}


def create():
    spec = {
        "options": {
            "filters": {"dataTypes": ["tableData"], "recordChangeScope": TABLE},
            "includes": {"includePreviousCellValues": True},
        }
    }
    made = base.add_webhook(hook_url, spec)
    assert made.id.startswith("ach"), made
    secret = base64.b64decode(made.mac_secret_base64)
    assert len(secret) == 32, len(secret)
    assert made.expiration_time is not None
    state["hook"] = made
    hooks = base.webhooks()
    assert [h.id for h in hooks] == [made.id], hooks
    h = hooks[0]
    assert h.are_notifications_enabled and h.is_hook_enabled, h
    assert h.cursor_for_next_payload == 1, h
    assert h.notification_url == hook_url, h
    assert h.specification.options.filters.record_change_scope == TABLE, h
    # The secret is never shown again.
    assert made.mac_secret_base64 not in str(api.request("GET", base.urls.webhooks))


def changes_become_payloads():
    rec = table.create({"Name": "hooked", "Qty": 1})
    table.update(rec["id"], {"Qty": 2})
    table.delete(rec["id"])
    state["rec"] = rec["id"]
    hook = base.webhook(state["hook"].id)
    assert hook.cursor_for_next_payload == 4, hook
    payloads = list(hook.payloads())
    assert [p.cursor for p in payloads] == [1, 2, 3], payloads
    assert [p.base_transaction_number for p in payloads] == sorted(
        p.base_transaction_number for p in payloads
    )
    created = payloads[0].changed_tables_by_id[TABLE].created_records_by_id[rec["id"]]
    assert created.cell_values_by_field_id[fields["Name"]] == "hooked", created
    assert created.cell_values_by_field_id[fields["Qty"]] == 1, created
    changed = payloads[1].changed_tables_by_id[TABLE].changed_records_by_id[rec["id"]]
    assert changed.current.cell_values_by_field_id == {fields["Qty"]: 2}, changed
    assert changed.previous.cell_values_by_field_id == {fields["Qty"]: 1}, changed
    destroyed = payloads[2].changed_tables_by_id[TABLE].destroyed_record_ids
    assert destroyed == [rec["id"]], payloads[2]
    assert payloads[0].action_metadata.source == "client", payloads[0]
    user = payloads[0].action_metadata.source_metadata["user"]
    assert user["id"].startswith("usr") and user["permissionLevel"] == "create", user
    # From a cursor, and a limit of one per page: the same payloads.
    again = list(hook.payloads(cursor=2))
    assert [p.cursor for p in again] == [2, 3], again
    assert again[0].base_transaction_number == payloads[1].base_transaction_number
    one = list(hook.payloads(cursor=1, limit=2))
    assert [p.base_transaction_number for p in one] == [
        p.base_transaction_number for p in payloads[:2]
    ]
    page = api.request(
        "GET", f"{base.urls.webhooks}/{hook.id}/payloads", params={"cursor": 1, "limit": 1}
    )
    assert page["cursor"] == 2 and page["mightHaveMore"] is True, page
    assert len(page["payloads"]) == 1, page


def ping_is_retried_and_verifies():
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if pings:
                break
        time.sleep(0.1)
    with lock:
        assert failed, "the first ping was not answered 500"
        assert pings, "no ping was retried after the first failure"
        body, header = pings[0]
    secret = state["hook"].mac_secret_base64
    note = WebhookNotification.from_request(body, header, secret)
    assert note.base.id == BASE and note.webhook.id == state["hook"].id, note
    # The failed first attempt carried a valid signature too.
    WebhookNotification.from_request(failed[0][0], failed[0][1], secret)
    # A tampered body or another secret does not verify.
    for bad_body, bad_secret in [
        (body.replace(BASE, "appXXXXXXXXXXXXXX"), secret),
        (body, base64.b64encode(b"x" * 32).decode()),
    ]:
        try:
            WebhookNotification.from_request(bad_body, header, bad_secret)
        except ValueError:
            continue
        raise AssertionError("a tampered ping verified")


def other_tables_are_out_of_scope():
    other = base.create_table(
        f"Other {int(time.time() * 1000)}", fields=[{"name": "Name", "type": "singleLineText"}]
    )
    other.create({"Name": "elsewhere"})
    hook = base.webhook(state["hook"].id)
    assert hook.cursor_for_next_payload == 4, hook
    assert list(hook.payloads(cursor=4)) == []


def notifications_and_expiry():
    hook = base.webhook(state["hook"].id)
    before = hook.expiration_time
    hook.disable_notifications()
    assert not base.webhook(hook.id).are_notifications_enabled
    hook.enable_notifications()
    assert base.webhook(hook.id).are_notifications_enabled
    time.sleep(0.01)
    hook.extend_expiration()
    after = base.webhook(hook.id).expiration_time
    assert after > before, (after, before)


def delete():
    hook = base.webhook(state["hook"].id)
    hook.delete()
    assert base.webhooks() == []


check("create", create)
check("changes_become_payloads", changes_become_payloads)
check("ping_is_retried_and_verifies", ping_is_retried_and_verifies)
check("other_tables_are_out_of_scope", other_tables_are_out_of_scope)
check("notifications_and_expiry", notifications_and_expiry)
check("delete", delete)
server.shutdown()
print(f"pyairtable webhooks: {passed} passed, 0 failed")
