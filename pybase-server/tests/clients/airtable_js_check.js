// airtable.js against a running PyBase server's /v0 (AIRTABLE.md).
//
// Run by pybase-server/tests/it/v0_clients.rs with NODE_PATH pointing at
// the installed client:
//   PYBASE_URL=... PYBASE_KEY=pbk_... PYBASE_BASE=app... PYBASE_TABLE="name" node airtable_js_check.js
// PYBASE_LIMITED_URL, _KEY and _BASE (optional) name a server whose /v0
// rate limit is one request a second, to see the client wait out 429s. Prints "airtable.js: N passed, 0 failed".
'use strict';

const assert = require('assert');
const Airtable = require('airtable');

const url = process.env.PYBASE_URL;
const base = new Airtable({apiKey: process.env.PYBASE_KEY, endpointUrl: url}).base(process.env.PYBASE_BASE);
const table = base(process.env.PYBASE_TABLE);
let passed = 0;

async function check(name, fn) {
  try {
    await fn();
  } catch (e) {
    console.error(`FAILED: ${name}`);
    throw e;
  }
  passed += 1;
  console.log(`ok ${name}`);
}

async function main() {
  let ids = [];
  await check('create one and many (trailing slash, no batch chunking)', async () => {
    const one = await table.create({Name: 'js-one', Qty: 1});
    assert.match(one.id, /^rec/);
    assert.strictEqual(one.get('Qty'), 1);
    const many = await table.create([
      {fields: {Name: 'js-a', Qty: 2}},
      {fields: {Name: 'js-b', Qty: 3}},
    ]);
    assert.strictEqual(many.length, 2);
    ids = [one.id, ...many.map((r) => r.id)];
  });

  await check('find, with the empty "?" and a JSON content type on GET', async () => {
    const r = await table.find(ids[0]);
    assert.strictEqual(r.get('Name'), 'js-one');
  });

  await check('update and replace, one and many', async () => {
    const u = await table.update(ids[0], {Qty: 10});
    assert.strictEqual(u.get('Name'), 'js-one');
    assert.strictEqual(u.get('Qty'), 10);
    const r = await table.replace(ids[0], {Name: 'js-replaced'});
    assert.strictEqual(r.get('Qty'), undefined);
    const many = await table.update([
      {id: ids[1], fields: {Qty: 20}},
      {id: ids[2], fields: {Qty: 30}},
    ]);
    assert.deepStrictEqual(many.map((x) => x.get('Qty')), [20, 30]);
    const rep = await table.replace([{id: ids[1], fields: {Name: 'js-a2'}}]);
    assert.strictEqual(rep[0].get('Qty'), undefined);
  });

  await check('select: eachPage, firstPage, all, sort, fields, maxRecords', async () => {
    let pages = 0;
    let seen = 0;
    await table.select({pageSize: 2, sort: [{field: 'Name', direction: 'asc'}]}).eachPage((records, next) => {
      pages += 1;
      seen += records.length;
      next();
    });
    assert.ok(pages >= 2, `pages ${pages}`);
    const first = await table.select({maxRecords: 1, fields: ['Name']}).firstPage();
    assert.strictEqual(first.length, 1);
    assert.deepStrictEqual(Object.keys(first[0].fields), ['Name']);
    const all = await table.select({sort: [{field: 'Qty', direction: 'desc'}], maxRecords: 2}).all();
    assert.strictEqual(all.length, 2);
    const everything = await table.select().all();
    assert.strictEqual(everything.length, seen);
    const posted = await table.select({method: 'post', pageSize: 1, maxRecords: 2}).all();
    assert.strictEqual(posted.length, 2);
    const filtered = await table.select({filterByFormula: "AND({Qty} >= 20, {Name} = 'js-b')"}).all();
    assert.deepStrictEqual(filtered.map((r) => r.get('Qty')), [30]);
  });

  await check('errors come back with their type', async () => {
    await assert.rejects(table.create({Qtty: 1}), (e) => {
      assert.strictEqual(e.statusCode, 422);
      assert.strictEqual(e.error, 'UNKNOWN_FIELD_NAME');
      return true;
    });
    await assert.rejects(table.find('recAAAAAAAAAAAAAA'), (e) => {
      assert.strictEqual(e.statusCode, 404);
      return true;
    });
    await assert.rejects(base('No such table').select().firstPage(), (e) => {
      assert.strictEqual(e.statusCode, 403);
      return true;
    });
  });

  await check('destroy one and many', async () => {
    const one = await table.destroy(ids[0]);
    assert.strictEqual(one.id, ids[0]);
    const many = await table.destroy([ids[1], ids[2]]);
    assert.deepStrictEqual(many.map((r) => r.id), [ids[1], ids[2]]);
  });

  if (process.env.PYBASE_LIMITED_KEY) {
    await check('429 is retried until the bucket refills', async () => {
      const limited = new Airtable({apiKey: process.env.PYBASE_LIMITED_KEY, endpointUrl: process.env.PYBASE_LIMITED_URL})
        .base(process.env.PYBASE_LIMITED_BASE)('Orders');
      const started = Date.now();
      // The bucket holds one request a second: a burst of three must wait.
      const pages = await Promise.all([1, 2, 3].map(() => limited.select({maxRecords: 1}).firstPage()));
      assert.strictEqual(pages.length, 3);
      assert.ok(Date.now() - started >= 500, 'no wait: the limit did not apply');
    });
  }
  console.log(`airtable.js: ${passed} passed, 0 failed`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
