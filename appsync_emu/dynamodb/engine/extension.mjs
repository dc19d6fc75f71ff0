// What dynalite 4.0.0 lacks, added at its own seams (see README.md): ReturnValuesOnConditionCheckFailure,
// transactions (transact.mjs), TTL (ttl.mjs) and DynamoDB Streams (streams.mjs).
//
// dynalite is Apache-2.0 (https://github.com/architect/dynalite). Nothing of it is copied here; this
// file wraps its CommonJS modules at run time, which is why the version is pinned exactly (PINNED).
// The internals relied on, all in dynalite 4.0.0:
// - db/index.js exports `create`, `checkConditional`, `updateIndexes`, `getIndexActions`, `createKey`,
//   `validateKey`, `validateItem`, `validateUpdates`, `validationError`, `itemSize`, `mapPaths`; the
//   actions call them through the module object (`db.checkConditional(...)`), so replacing an export
//   changes what every action calls;
// - the store made by `db.create`: `db` (the Level database: atomic `batch`, `iterator`), `tableDb`,
//   `getTable`, `getItemDb(name)` with its per-table `lock` (npm `lock`: an array of keys is queued in
//   one go), and the key layout of its sub-databases: `item-<table>~<key>`,
//   `index-<local|global>~<table>~<index>~<key>` (getSubDb/createPrefixedDbWrapper);
// - index.js loads `./actions/<name>` and `./validations/<name>` with require, so a module replaced
//   in require's cache before index.js is loaded is the one it calls;
// - validations/index.js exports `checkTypes` and `checkValidations` (DynamoDB's error texts).
import Module from 'node:module';
import path from 'node:path';
import crypto from 'node:crypto';

export const PINNED = '4.0.0';

// One loaded dynalite with the extension's hooks; `ext.store` is set when dynalite() makes its store.
export function loadDynalite(modules) {
  const require = Module.createRequire(path.join(modules, 'dynalite', 'index.js'));
  const version = require('dynalite/package.json').version;
  if (version !== PINNED) throw new Error(`the engine extension needs dynalite ${PINNED} exactly, found ${version}`);
  const ext = {
    require,
    db: require('dynalite/db'),
    validations: require('dynalite/validations'),
    crc32: require(require.resolve('buffer-crc32', { paths: [path.join(modules, 'dynalite')] })),
    store: null,
    action: (name) => require(`dynalite/actions/${name}`),
    actionTypes: (name) => require(`dynalite/validations/${name}`),
    // Replaces dynalite/actions/<name> before index.js loads it: `wrap(original)` is the new action.
    wrapAction(name, wrap) {
      const original = require(`dynalite/actions/${name}`);
      require.cache[require.resolve(`dynalite/actions/${name}`)].exports = wrap(original);
    },
    onWrite: null, // set by streams.mjs: (writes) => batch operations for stream records, or []
    afterWrite: null, // set by streams.mjs: called once a batch is on disk (or failed)
  };
  const { db } = ext;

  const create = db.create;
  db.create = function (options) {
    ext.store = create(options);
    return ext.store;
  };

  // ReturnValuesOnConditionCheckFailure: dynalite's checkTypes drops unknown members, so the three
  // single-item writes are told about it; a failed condition then carries the item as DynamoDB's does.
  const rvoccf = { type: 'String', enum: ['ALL_OLD', 'NONE'] };
  for (const name of ['putItem', 'updateItem', 'deleteItem']) {
    ext.actionTypes(name).types.ReturnValuesOnConditionCheckFailure = rvoccf;
  }
  const checkConditional = db.checkConditional;
  db.checkConditional = function (data, existingItem) {
    const err = checkConditional(data, existingItem);
    if (err && existingItem && data.ReturnValuesOnConditionCheckFailure === 'ALL_OLD') err.body.Item = existingItem;
    return err;
  };

  // Every single-item write (PutItem, UpdateItem, DeleteItem, BatchWriteItem's parts) calls
  // updateIndexes(store, table, old, new) under the item's lock, just before writing the item.
  // A table without a stream keeps dynalite's own path; with one, the index changes, the item and
  // its stream record go in one atomic batch (dynalite then writes the same item once more).
  const updateIndexes = db.updateIndexes;
  db.updateIndexes = function (store, table, oldItem, newItem, cb) {
    if (store.dryRun) return cb(); // a transaction part being evaluated (transact.mjs): write nothing
    if (!streamEnabled(table) || (!oldItem && !newItem)) return updateIndexes(store, table, oldItem, newItem, cb);
    const key = db.createKey(newItem || oldItem, table);
    commit(ext, [{ table, key, oldItem, newItem, identity: store.identity }]).then(() => cb(), cb);
  };
  // dynalite answers CreateTable/DeleteTable before the table's entry turns ACTIVE/goes (a timer of
  // createTableMs/deleteTableMs, 0 here, then a write): a client quick enough saw "Requested resource
  // not found" on its first PutItem, or ResourceInUseException re-creating the table. The answer now
  // waits for that write, so the launcher's "tables are created and deleted at once" holds.
  function settled(store, name, pending, cb, tries = 0) {
    store.tableDb.get(name, (err, table) => {
      if (tries < 200 && pending(err ? null : table)) return setTimeout(settled, 1, store, name, pending, cb, tries + 1);
      cb();
    });
  }
  ext.wrapAction('createTable', (createTable) => (store, data, cb) => {
    createTable(store, data, (err, answer) => {
      if (err) return cb(err);
      settled(store, data.TableName, (table) => table && table.TableStatus === 'CREATING', () => cb(null, answer));
    });
  });
  ext.wrapAction('deleteTable', (deleteTable) => (store, data, cb) => {
    deleteTable(store, data, (err, answer) => {
      if (err) return cb(err);
      settled(store, data.TableName, (table) => Boolean(table), () => cb(null, answer));
    });
  });
  return ext;
}

export function streamEnabled(table) {
  return Boolean(table.StreamSpecification && table.StreamSpecification.StreamEnabled && table.LatestStreamArn);
}

// Writes `writes` ({table, key, oldItem, newItem (null: delete), identity?}) in one LevelDB batch:
// index changes as dynalite's updateIndexes makes them, the items, and their stream records.
export function commit(ext, writes) {
  const ops = [];
  for (const { table, key, oldItem, newItem } of writes) {
    const name = table.TableName;
    for (const type of ['Local', 'Global']) {
      const actions = ext.db.getIndexActions(table[`${type}SecondaryIndexes`] || [], oldItem, newItem, table);
      const prefix = `index-${type.toLowerCase()}~${name}~`;
      for (const del of actions.deletes) ops.push({ type: 'del', key: `${prefix}${del.index}~${del.key}` });
      for (const put of actions.puts) ops.push({ type: 'put', key: `${prefix}${put.index}~${put.key}`, value: put.item });
    }
    ops.push(newItem ? { type: 'put', key: `item-${name}~${key}`, value: newItem } : { type: 'del', key: `item-${name}~${key}` });
  }
  const records = ext.onWrite ? ext.onWrite(writes) : [];
  for (const record of records) ops.push(record.op);
  return new Promise((resolve, reject) => {
    ext.store.db.batch(ops, (err) => {
      if (ext.afterWrite) ext.afterWrite(records);
      if (err) reject(err);
      else resolve();
    });
  });
}

// Promise forms of the store's calls.
export function getTable(store, name) {
  return new Promise((resolve, reject) => store.getTable(name, (err, table) => (err ? reject(err) : resolve(table))));
}

export function getItem(store, tableName, key) {
  return new Promise((resolve, reject) =>
    store.getItemDb(tableName).get(key, (err, item) => {
      if (err && err.name !== 'NotFoundError') reject(err);
      else resolve(item || null);
    }),
  );
}

// Locks `keys` ([{tableName, key}], distinct) in (table, key) order, so that two callers never wait
// for each other in a cycle; resolves to the function that releases them all.
export async function lockKeys(store, keys) {
  const byTable = new Map();
  for (const { tableName, key } of keys) {
    if (!byTable.has(tableName)) byTable.set(tableName, []);
    byTable.get(tableName).push(key);
  }
  const releases = [];
  for (const tableName of [...byTable.keys()].sort()) {
    const tableKeys = byTable.get(tableName).sort();
    releases.push(await new Promise((resolve) => store.getItemDb(tableName).lock(tableKeys, (release) => resolve(release(() => {})))));
  }
  return () => releases.forEach((release) => release());
}

export function serviceError(type, message, extra) {
  const err = new Error(message);
  err.statusCode = 400;
  err.body = { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message, ...extra };
  return err;
}

// The request handler in front of dynalite's: the targets in `routes` are served here
// ({types, custom?, run(data) -> Promise<answer>}), everything else goes to dynalite unchanged.
export function frontHandler(ext, inner, routes) {
  const { validations } = ext;
  function send(req, res, body, statusCode = 200) {
    const text = JSON.stringify(body);
    res.statusCode = statusCode;
    res.setHeader('x-amzn-RequestId', crypto.randomBytes(39).toString('base64').toUpperCase().replace(/\+|\//g, '0'));
    res.setHeader('x-amz-crc32', ext.crc32.unsigned(text));
    res.setHeader('Content-Type', req.headers['content-type'] === 'application/json' ? 'application/json' : 'application/x-amz-json-1.0');
    res.setHeader('Content-Length', Buffer.byteLength(text, 'utf8'));
    res.end(text);
  }
  async function serve(route, req, res) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    let data;
    try {
      data = JSON.parse(Buffer.concat(chunks).toString() || 'null');
    } catch {
      return send(req, res, { __type: 'com.amazon.coral.service#SerializationException' }, 400);
    }
    if (data == null || typeof data !== 'object') return send(req, res, { __type: 'com.amazon.coral.service#SerializationException' }, 400);
    if (!req.headers.authorization || !req.headers.authorization.trim().startsWith('AWS4-')) {
      return send(req, res, { __type: 'com.amazon.coral.service#MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' }, 400);
    }
    try {
      data = validations.checkTypes(data, route.types);
      validations.checkValidations(data, route.types, route.custom, ext.store);
      send(req, res, await route.run(data));
    } catch (err) {
      if (!err.statusCode) {
        process.stderr.write(`engine extension: ${err.stack ?? err}\n`);
        return send(req, res, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(err.message) }, 500);
      }
      send(req, res, err.body, err.statusCode);
    }
  }
  return function handler(req, res) {
    const target = req.headers['x-amz-target'];
    const route = target && req.method === 'POST' ? routes[target] : undefined;
    if (route === undefined || !Object.hasOwn(routes, target)) return inner(req, res);
    serve(route, req, res).catch((err) => {
      process.stderr.write(`engine extension: ${err.stack ?? err}\n`);
      res.destroy();
    });
  };
}
