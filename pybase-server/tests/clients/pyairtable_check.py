"""pyairtable against a running PyBase server's /v0 (AIRTABLE.md).

Run by pybase-server/tests/it/v0_clients.rs with the client venv's python:
    PYBASE_URL=http://127.0.0.1:PORT PYBASE_KEY=pbk_... PYBASE_BASE=app... python pyairtable_check.py
Every check asserts; the script exits non-zero on the first failure and
prints "pyairtable: N passed" at the end.
"""

import os
import sys
import time

import requests
from pyairtable import Api
from pyairtable import formulas as F
from pyairtable.orm import Model
from pyairtable.orm import fields as OF

URL = os.environ["PYBASE_URL"]
KEY = os.environ["PYBASE_KEY"]
BASE = os.environ["PYBASE_BASE"]
READ_KEY = os.environ.get("PYBASE_READ_KEY")
WORKSPACE = os.environ["PYBASE_WORKSPACE"]

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


api = Api(KEY, endpoint_url=URL)
base = api.base(BASE)
suffix = str(int(time.time() * 1000))
table_name = f"Orders {suffix}/x"


def whoami():
    me = api.whoami()
    assert me["id"].startswith("usr"), me


def bases():
    ids = [b.id for b in api.bases()]
    assert BASE in ids, ids


def create_table_and_schema():
    global table
    table = base.create_table(
        table_name,
        fields=[
            {"name": "Name", "type": "singleLineText"},
            {"name": "Qty", "type": "number", "options": {"precision": 0}},
            {"name": "Done", "type": "checkbox", "options": {"icon": "check", "color": "greenBright"}},
            {"name": "Status", "type": "singleSelect",
             "options": {"choices": [{"name": "todo"}, {"name": "doing"}]}},
            {"name": "Price", "type": "currency", "options": {"precision": 2, "symbol": "$"}},
            {"name": "Email", "type": "email"},
        ],
        description="made by pyairtable",
    )
    schema = table.schema(force=True)
    assert schema.name == table_name
    types = {f.name: f.type for f in schema.fields}
    assert types == {
        "Name": "singleLineText", "Qty": "number", "Done": "checkbox",
        "Status": "singleSelect", "Price": "currency", "Email": "email",
    }, types
    # A typed schema, not pyairtable's "unknown" fallback.
    done = schema.field("Done")
    assert type(done).__name__ == "CheckboxFieldSchema", type(done)
    assert schema.primary_field_id == schema.field("Name").id
    assert [v.name for v in schema.views] == ["Grid view"]
    base_schema = base.schema(force=True)
    assert any(t.name == table_name for t in base_schema.tables)


def create_and_update_fields():
    f = table.create_field("Notes", "multilineText", description="free text")
    assert f.type == "multilineText" and f.name == "Notes"
    f.name = "Remarks"
    f.save()
    schema = table.schema(force=True)
    assert schema.field("Remarks").id == f.id
    schema.name = table_name  # unchanged name, exercises PATCH table
    schema.description = "renamed by pyairtable"
    schema.save()
    assert table.schema(force=True).description == "renamed by pyairtable"


def records_crud():
    one = table.create({"Name": "a", "Qty": 1, "Status": "todo", "Done": True})
    assert one["id"].startswith("rec") and one["fields"]["Qty"] == 1, one
    assert one["createdTime"].endswith("Z")
    many = table.batch_create([{"Name": f"n{i}", "Qty": i} for i in range(2, 25)])
    assert len(many) == 23
    got = table.get(one["id"])
    assert got["fields"] == {"Name": "a", "Qty": 1, "Status": "todo", "Done": True}, got
    upd = table.update(one["id"], {"Qty": 5})
    assert upd["fields"]["Name"] == "a" and upd["fields"]["Qty"] == 5, upd
    rep = table.update(one["id"], {"Name": "b"}, replace=True)
    assert rep["fields"] == {"Name": "b"}, rep
    rows = table.batch_update([{"id": r["id"], "fields": {"Price": 2.5}} for r in many[:12]])
    assert len(rows) == 12 and all(r["fields"]["Price"] == 2.5 for r in rows)
    assert table.delete(one["id"]) == {"id": one["id"], "deleted": True}
    deleted = table.batch_delete([r["id"] for r in many[20:]])
    assert len(deleted) == 3 and all(d["deleted"] for d in deleted)
    try:
        table.get(one["id"])
        raise AssertionError("a deleted record was read")
    except requests.HTTPError as e:
        assert e.response.status_code == 404, e


def listing():
    rows = table.all(page_size=5)
    assert len(rows) == 20, len(rows)
    names = [r["fields"]["Name"] for r in table.all(sort=["-Qty"], max_records=3)]
    assert names == ["n21", "n20", "n19"], names
    pages = list(table.iterate(page_size=7, fields=["Qty"]))
    assert [len(p) for p in pages] == [7, 7, 6], [len(p) for p in pages]
    assert all(set(r["fields"]) <= {"Qty"} for p in pages for r in p)
    first = table.first(sort=["Qty"])
    assert first["fields"]["Qty"] == 2, first
    by_id = table.all(max_records=1, use_field_ids=True)[0]
    assert all(k.startswith("fld") for k in by_id["fields"]), by_id
    view = table.all(view="Grid view", max_records=2)
    assert len(view) == 2
    # pyairtable's generated formulas.
    got = table.all(formula=F.match({"Name": "n5", "Qty": (">=", 5)}))
    assert [r["fields"]["Name"] for r in got] == ["n5"], got
    got = table.all(formula=F.AND(F.GT(F.Field("Qty"), 18), F.Field("Name")), sort=["Qty"])
    assert [r["fields"]["Qty"] for r in got] == [19, 20, 21], got
    some = table.all(max_records=3, sort=["Qty"])
    got = table.all(formula=F.OR(*[F.EQ(F.RECORD_ID(), r["id"]) for r in some]))
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in some)


def upsert():
    table.create({"Email": "x@example.com", "Qty": 1})
    res = table.batch_upsert(
        [{"fields": {"Email": "x@example.com", "Qty": 2}},
         {"fields": {"Email": "y@example.com", "Qty": 3}}],
        key_fields=["Email"],
    )
    assert len(res["createdRecords"]) == 1 and len(res["updatedRecords"]) == 1, res
    assert [r["fields"]["Qty"] for r in res["records"]] == [2, 3]


def errors():
    try:
        table.create({"Qtty": 1})
        raise AssertionError("an unknown field was accepted")
    except requests.HTTPError as e:
        assert e.response.status_code == 422
        assert e.response.json()["error"]["type"] == "UNKNOWN_FIELD_NAME", e.response.text
    try:
        table.create({"Status": "nope"})
        raise AssertionError("an unknown choice was accepted")
    except requests.HTTPError as e:
        assert e.response.json()["error"]["type"] == "INVALID_MULTIPLE_CHOICE_OPTIONS"
    made = table.create({"Status": "nope"}, typecast=True)
    assert made["fields"]["Status"] == "nope"
    try:
        api.table(BASE, "No such table").all()
        raise AssertionError("an unknown table answered")
    except requests.HTTPError as e:
        assert e.response.status_code == 403
        assert e.response.json()["error"]["type"] == "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"
    try:
        table.all(formula="{Qtty} > 1")
        raise AssertionError("a formula naming an unknown field was accepted")
    except requests.HTTPError as e:
        assert e.response.status_code == 422
        assert e.response.json()["error"]["type"] == "INVALID_FILTER_BY_FORMULA"
    if READ_KEY:
        ro = Api(READ_KEY, endpoint_url=URL).table(BASE, table_name)
        assert len(ro.all(max_records=1)) == 1
        try:
            ro.create({"Name": "no"})
            raise AssertionError("a read-only key wrote")
        except requests.HTTPError as e:
            assert e.response.status_code == 403
            assert e.response.json()["error"]["type"] == "INVALID_PERMISSIONS"


def orm():
    class Order(Model):
        name = OF.TextField("Name")
        qty = OF.NumberField("Qty")
        done = OF.CheckboxField("Done")
        status = OF.SelectField("Status")

        class Meta:
            api_key = KEY
            base_id = BASE
            table_name = table.name

    # pyairtable's ORM builds its own Api without an endpoint option: hand
    # it one pointed at PyBase (the README's migration note).
    Order.meta.api = api
    o = Order(name="orm", qty=41, done=True, status="doing")
    o.save()
    assert o.id.startswith("rec")
    o.qty = 42
    o.save()
    again = Order.from_id(o.id)
    assert again.qty == 42 and again.done is True and again.status == "doing"
    assert any(x.id == o.id for x in Order.all())
    found = Order.first(formula=F.match({"Name": "orm"}))
    assert found is not None and found.qty == 42, found
    batch = [Order(name=f"b{i}", qty=100 + i) for i in range(12)]
    Order.batch_save(batch)
    assert all(b.id for b in batch)
    assert len(Order.all()) >= 13


def create_base():
    name = f"Made {suffix}"
    made = api.create_base(WORKSPACE, name, [
        {"name": "Things", "fields": [
            {"name": "Name", "type": "singleLineText"},
            {"name": "Qty", "type": "number", "options": {"precision": 0}},
        ]},
    ])
    # pyairtable re-read the base list to build this: it is there, ours.
    assert made.id.startswith("app") and made.id != BASE, made
    assert made.name == name and made.permission_level == "create", made
    things = made.table("Things")
    rec = things.create({"Name": "a", "Qty": 2})
    assert things.get(rec["id"])["fields"] == {"Name": "a", "Qty": 2}
    assert [t.name for t in made.schema().tables] == ["Things"]


for name, fn in [
    ("whoami", whoami),
    ("bases", bases),
    ("create table and schema", create_table_and_schema),
    ("create and update fields", create_and_update_fields),
    ("records create/get/update/replace/delete", records_crud),
    ("listing with pages, sort, fields, maxRecords, view", listing),
    ("batch upsert", upsert),
    ("errors", errors),
    ("ORM", orm),
    ("create base", create_base),
]:
    check(name, fn)

print(f"pyairtable: {passed} passed, 0 failed")
