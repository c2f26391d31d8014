#!/usr/bin/env python3
"""Seeds a running PyBase server for scripts/schemathesis.sh.

Registers two users, creates an API key for the first (schemathesis
authenticates with it, so a logout or refresh that schemathesis sends
cannot end its own session), and creates the workspaces, bases, tables,
fields, views, records and an attachment whose ids the operations' path
parameters take. Destructive operations (DELETE of a workspace, base,
table, field, view, member, key or record) get resources of their own, so
deleting them does not hide the rest of the data from later tests.

Writes a schemathesis.toml to the path given as the second argument. Only
the standard library is used.

Usage: schemathesis_fixture.py BASE_URL CONFIG_PATH
"""

import json
import os
import sys
import urllib.error
import urllib.request
import uuid

BASE = sys.argv[1].rstrip("/")
CONFIG = sys.argv[2]
API = BASE + "/api/v1"


def call(method, path, body=None, token=None, raw=None, content_type=None):
    """One request; answers the decoded JSON (or None), failing loudly."""
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if raw is not None:
        data = raw
        headers["Content-Type"] = content_type
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(API + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"fixture: {method} {path} answered {e.code}: {e.read().decode(errors='replace')}")
    return json.loads(text) if text else None


# Operations whose request content is checked against the table's current
# fields and views (cell values and names, filters, sorts, view configs, type
# conversions of stored cells, record cursors): the document states their
# structure, but whether a field named "Qty" exists, or takes "abc", depends
# on the table. For these only, a schema-valid request may be answered 422.
TABLE_DEPENDENT = {
    # A webhook URL is also judged by policy: private, loopback and
    # link-local targets are refused (422) unless WEBHOOK_ALLOW_PRIVATE.
    "create_webhook",
    "create_records",
    "update_records",
    "update_record",
    "replace_record",
    "list_records",
    "query_records",
    "create_view",
    "update_view",
    "update_field",
    # A formula names the table's fields; so do computed fields (formula,
    # lookup, rollup, count) created alone or with a new table: a
    # `link_field` or `{Name}` the table lacks is a legitimate 422.
    "check_formula",
    "create_field",
    "create_table",
    # `primary_field_id` must name a field of the table (by name or id).
    "update_table",
    # A cursor of the base's change log (`after`, `cursor`, Last-Event-ID)
    # beyond its newest event is refused (422) rather than silently
    # skipping the events up to it: whether a number is past the end
    # depends on the log, not on the document.
    "list_changes",
    "stream_changes",
}
# schemathesis' default statuses for positive_data_acceptance, plus 422.
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]


def main():
    tag = uuid.uuid4().hex[:8]
    owner = call("POST", "/auth/register", {
        "email": f"st-owner-{tag}@example.com",
        "password": "schemathesis owner pw",
        "name": "Schemathesis Owner",
    })
    member = call("POST", "/auth/register", {
        "email": f"st-member-{tag}@example.com",
        "password": "schemathesis member pw",
        "name": "Schemathesis Member",
    })
    jwt = owner["access_token"]
    key = call("POST", "/api-keys", {"name": "schemathesis"}, jwt)["key"]
    spare_key = call("POST", "/api-keys", {"name": "to delete"}, key)["id"]

    ws = call("POST", "/workspaces", {"name": "Schemathesis"}, key)["id"]
    ws_del = call("POST", "/workspaces", {"name": "To delete"}, key)["id"]
    call("POST", f"/workspaces/{ws}/members",
         {"email": member["user"]["email"], "role": "editor"}, key)
    base = call("POST", f"/workspaces/{ws}/bases", {"name": "Base"}, key)["id"]
    base_del = call("POST", f"/workspaces/{ws}/bases", {"name": "Base to delete"}, key)["id"]
    table = call("POST", f"/bases/{base}/tables", {
        "name": "Things",
        "fields": [
            {"name": "Name", "type": "text"},
            {"name": "Notes", "type": "long_text"},
            {"name": "Qty", "type": "number", "options": {"precision": 0}},
            {"name": "Done", "type": "checkbox"},
            {"name": "Status", "type": "single_select",
             "options": {"choices": [{"name": "open"}, {"name": "closed"}]}},
            {"name": "When", "type": "date"},
        ],
    }, key)
    table_id = table["id"]
    table_del = call("POST", f"/bases/{base}/tables", {"name": "Table to delete"}, key)["id"]
    field = table["fields"][1]["id"]
    field_del = call("POST", f"/tables/{table_id}/fields",
                     {"name": "To delete", "type": "text"}, key)["id"]
    view = call("POST", f"/tables/{table_id}/views", {"name": "Grid"}, key)["id"]
    view_del = call("POST", f"/tables/{table_id}/views", {"name": "View to delete"}, key)["id"]
    records = call("POST", f"/tables/{table_id}/records", {"records": [
        {"fields": {"Name": "first", "Qty": 1, "Status": "open"}},
        {"fields": {"Name": "second", "Qty": 2, "Done": True}},
        {"fields": {"Name": "third", "When": "2024-02-29"}},
    ]}, key)["records"]
    record = records[0]["id"]
    record_del = records[1]["id"]
    boundary = "schemathesis" + tag
    upload = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="hello.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        "hello\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    attachment = call("POST", f"/tables/{table_id}/attachments", token=key, raw=upload,
                      content_type=f"multipart/form-data; boundary={boundary}")["id"]

    # operation id -> path parameters
    params = {
        "get_workspace": {"id": ws},
        "update_workspace": {"id": ws},
        "delete_workspace": {"id": ws_del},
        "list_members": {"id": ws},
        "add_member": {"id": ws},
        "update_member": {"id": ws, "user_id": member["user"]["id"]},
        "remove_member": {"id": ws, "user_id": member["user"]["id"]},
        "create_base": {"id": ws},
        "list_bases": {"id": ws},
        "get_base": {"id": base},
        "update_base": {"id": base},
        "delete_base": {"id": base_del},
        "create_table": {"id": base},
        "list_tables": {"id": base},
        "get_table": {"id": table_id},
        "update_table": {"id": table_id},
        "delete_table": {"id": table_del},
        "create_field": {"id": table_id},
        "list_fields": {"id": table_id},
        "get_field": {"id": field},
        "update_field": {"id": field},
        "delete_field": {"id": field_del},
        "create_view": {"id": table_id},
        "list_views": {"id": table_id},
        "get_view": {"id": view},
        "update_view": {"id": view},
        "delete_view": {"id": view_del},
        "create_records": {"id": table_id},
        "list_records": {"id": table_id},
        "query_records": {"id": table_id},
        "update_records": {"id": table_id},
        "delete_records": {"id": table_id},
        "get_record": {"id": table_id, "record_id": record},
        "update_record": {"id": table_id, "record_id": record},
        "replace_record": {"id": table_id, "record_id": record},
        "delete_record": {"id": table_id, "record_id": record_del},
        "restore_record": {"id": table_id, "record_id": record_del},
        "upload_attachment": {"id": table_id},
        "get_attachment": {"id": attachment},
        "get_attachment_content": {"id": attachment},
        "delete_api_key": {"id": spare_key},
        "check_formula": {"id": table_id},
        "create_webhook": {"id": base},
        "list_changes": {"id": base},
    }
    hooks = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis_hooks.py")
    lines = [
        "# Written by scripts/schemathesis_fixture.py for one run; not kept.",
        f'headers = {{ Authorization = "Bearer {key}" }}',
        f"hooks = {json.dumps(hooks)}",
        "",
        "# No state kept between runs (schemathesis would replay past crashes",
        "# from ./.schemathesis): every run is the seed's alone.",
        "[cache]",
        "enabled = false",
        "",
    ]
    for op, values in params.items():
        lines.append("[[operations]]")
        lines.append(f'include-operation-id = "{op}"')
        inner = ", ".join(f'"path.{k}" = "{v}"' for k, v in values.items())
        lines.append(f"parameters = {{ {inner} }}")
        if op in TABLE_DEPENDENT:
            lines.append("# Judged against the table's fields and views, which no static")
            lines.append("# document can state: 422 is a legitimate answer to schema-valid data.")
            statuses = ", ".join(f'"{s}"' for s in POSITIVE_STATUSES)
            lines.append(f"checks.positive_data_acceptance.expected-statuses = [{statuses}]")
        lines.append("")
    # Judged operations left to schemathesis' own parameters (the event
    # stream: with a real base it would stay open until the timeout).
    for op in sorted(TABLE_DEPENDENT - params.keys()):
        statuses = ", ".join(f'"{s}"' for s in POSITIVE_STATUSES)
        lines.append("[[operations]]")
        lines.append(f'include-operation-id = "{op}"')
        lines.append(f"checks.positive_data_acceptance.expected-statuses = [{statuses}]")
        lines.append("")
    with open(CONFIG, "w") as f:
        f.write("\n".join(lines))
    print(key)


if __name__ == "__main__":
    main()
