// TransactWriteItems and TransactGetItems on dynalite 4.0.0 (Apache-2.0, see extension.mjs).
//
// Each part is validated with dynalite's own types and checks of PutItem/UpdateItem/DeleteItem/GetItem
// (same messages, with DynamoDB's `transactItems.N.member.put...` paths). A write transaction locks
// every key (tables and keys in sorted order), reads the items, then evaluates each part by running
// dynalite's own putItem/updateItem/deleteItem action against a "dry-run" store that answers with the
// item just read and records what the action would write (so conditions and update expressions are
// dynalite's, not a copy). If every part passes, all items, index entries and stream records are
// written in one LevelDB batch (extension.commit); else nothing is, and TransactionCanceledException
// gives one reason per part, as DynamoDB does.
import { commit, getItem, getTable, lockKeys, serviceError } from './extension.mjs';

const WRITE_PARTS = { Put: 'putItem', Update: 'updateItem', Delete: 'deleteItem', ConditionCheck: 'deleteItem' };

function pick(types, names) {
  return Object.fromEntries(names.map((name) => [name, types[name]]));
}

export function transactRoutes(ext) {
  const { db } = ext;
  const rvoccf = { type: 'String', enum: ['ALL_OLD', 'NONE'] };
  const exprNames = ['TableName', 'ConditionExpression', 'ExpressionAttributeNames', 'ExpressionAttributeValues'];
  const putTypes = ext.actionTypes('putItem').types;
  const updateTypes = ext.actionTypes('updateItem').types;
  const deleteTypes = ext.actionTypes('deleteItem').types;
  const partTypes = {
    ConditionCheck: {
      ...pick(deleteTypes, ['Key', ...exprNames]),
      ConditionExpression: { type: 'String', notNull: true },
      ReturnValuesOnConditionCheckFailure: rvoccf,
    },
    Put: { ...pick(putTypes, ['Item', ...exprNames]), ReturnValuesOnConditionCheckFailure: rvoccf },
    Delete: { ...pick(deleteTypes, ['Key', ...exprNames]), ReturnValuesOnConditionCheckFailure: rvoccf },
    Update: {
      ...pick(updateTypes, ['Key', ...exprNames]),
      UpdateExpression: { type: 'String', notNull: true },
      ReturnValuesOnConditionCheckFailure: rvoccf,
    },
  };
  const capacity = pick(putTypes, ['ReturnConsumedCapacity']);
  const writeTypes = {
    ...capacity,
    ReturnItemCollectionMetrics: putTypes.ReturnItemCollectionMetrics,
    ClientRequestToken: { type: 'String', lengthGreaterThanOrEqual: 1, lengthLessThanOrEqual: 36 },
    TransactItems: {
      type: 'List',
      notNull: true,
      lengthGreaterThanOrEqual: 1,
      lengthLessThanOrEqual: 100,
      children: {
        type: 'ValueStruct<TransactWriteItem>',
        children: Object.fromEntries(
          Object.entries(partTypes).map(([op, children]) => [op, { type: `FieldStruct<${op}>`, children }]),
        ),
      },
    },
  };
  const getTypes = ext.actionTypes('getItem');
  const readTypes = {
    ...capacity,
    TransactItems: {
      type: 'List',
      notNull: true,
      lengthGreaterThanOrEqual: 1,
      lengthLessThanOrEqual: 100,
      children: {
        type: 'ValueStruct<TransactGetItem>',
        children: {
          Get: {
            type: 'FieldStruct<Get>',
            notNull: true,
            children: pick(getTypes.types, ['Key', 'TableName', 'ProjectionExpression', 'ExpressionAttributeNames']),
          },
        },
      },
    },
  };

  // Each part gets the checks of its single-item action (expressions parsed into _condition/_updates).
  function writeCustom(data, store) {
    for (const item of data.TransactItems) {
      const ops = Object.keys(item);
      if (ops.length !== 1) return 'TransactItems can only contain one of Check, Put, Update or Delete';
      const msg = ext.actionTypes(WRITE_PARTS[ops[0]]).custom(item[ops[0]], store);
      if (msg) return msg;
    }
  }
  function readCustom(data, store) {
    for (const item of data.TransactItems) {
      const msg = getTypes.custom(item.Get, store);
      if (msg) return msg;
    }
  }

  // Tables, request-level key checks (a ValidationException, not a cancellation, as in DynamoDB),
  // and "one operation per item".
  async function resolveParts(store, parts, validate) {
    const tables = new Map();
    const seen = new Set();
    for (const part of parts) {
      const name = part.data.TableName;
      if (!tables.has(name)) tables.set(name, await getTable(store, name));
      part.table = tables.get(name);
      const err = validate(part);
      if (err) throw err;
      part.key = db.createKey(part.op === 'Put' ? part.data.Item : part.data.Key, part.table);
      if (seen.has(`${name}~${part.key}`)) {
        throw db.validationError('Transaction request cannot include multiple operations on one item');
      }
      seen.add(`${name}~${part.key}`);
    }
    return [...tables.keys()];
  }

  // Runs dynalite's own action for one part against the item read under lock; nothing is written.
  // Returns {reason} (DynamoDB's CancellationReason) and, when it passes, {newItem}.
  function evaluate(store, part) {
    let outcome;
    let newItem = part.oldItem;
    const itemDb = {
      lock: (key, fn) => fn((cb) => cb),
      get: (key, cb) => cb(null, part.oldItem || undefined),
      put: (key, item, cb) => ((newItem = item), cb()),
      del: (key, cb) => ((newItem = null), cb()),
    };
    const dryRun = {
      dryRun: true,
      options: store.options,
      getTable: (name, checkStatus, cb) => (cb || checkStatus)(null, part.table),
      getItemDb: () => itemDb,
    };
    ext.action(WRITE_PARTS[part.op])(dryRun, part.data, (err) => (outcome = { err }));
    if (!outcome) throw new Error(`dynalite's ${WRITE_PARTS[part.op]} did not answer synchronously`);
    const { err } = outcome;
    if (!err) return { reason: { Code: 'None' }, newItem: part.op === 'ConditionCheck' ? part.oldItem : newItem };
    if (!err.body) throw err;
    if (/#ConditionalCheckFailedException$/.test(err.body.__type)) {
      const reason = { Code: 'ConditionalCheckFailed', Message: err.body.message };
      if (err.body.Item) reason.Item = err.body.Item;
      return { reason };
    }
    return { reason: { Code: 'ValidationError', Message: err.body.message } };
  }

  function consumed(data, parts, unitsPerItem) {
    if (!['TOTAL', 'INDEXES'].includes(data.ReturnConsumedCapacity)) return undefined;
    const units = new Map();
    for (const part of parts) units.set(part.data.TableName, (units.get(part.data.TableName) || 0) + unitsPerItem);
    return [...units].map(([TableName, CapacityUnits]) => {
      const entry = { TableName, CapacityUnits };
      if (data.ReturnConsumedCapacity === 'INDEXES') entry.Table = { CapacityUnits };
      return entry;
    });
  }

  // ClientRequestToken: the same token within 10 minutes answers as the first call did, without
  // writing again; with a different request it is IdempotentParameterMismatchException (DynamoDB's rule).
  const tokens = new Map();
  const TOKEN_MS = 10 * 60 * 1000;

  async function transactWriteItems(data) {
    const store = ext.store;
    let fingerprint;
    if (data.ClientRequestToken) {
      const now = Date.now();
      for (const [token, seen] of tokens) if (now - seen.at > TOKEN_MS) tokens.delete(token);
      fingerprint = JSON.stringify(data.TransactItems, (k, v) => (k.startsWith('_') ? undefined : v));
      const seen = tokens.get(data.ClientRequestToken);
      if (seen && seen.fingerprint !== fingerprint) {
        throw serviceError('IdempotentParameterMismatchException', 'Request token has already been used with different parameters');
      }
      if (seen) return seen.answer;
    }
    const parts = data.TransactItems.map((item) => {
      const op = Object.keys(item)[0];
      return { op, data: item[op] };
    });
    await resolveParts(store, parts, (part) => {
      if (part.op === 'Put') return db.validateItem(part.data.Item, part.table);
      return db.validateKey(part.data.Key, part.table) || (part.op === 'Update' ? db.validateUpdates(null, part.data._updates, part.table) : null);
    });
    const release = await lockKeys(store, parts.map((part) => ({ tableName: part.data.TableName, key: part.key })));
    try {
      for (const part of parts) part.oldItem = await getItem(store, part.data.TableName, part.key);
      const results = parts.map((part) => evaluate(store, part));
      if (results.some((result) => result.reason.Code !== 'None')) {
        const codes = results.map((result) => result.reason.Code).join(', ');
        const err = serviceError(
          'TransactionCanceledException',
          `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes}]`,
          { CancellationReasons: results.map((result) => result.reason) },
        );
        err.body.Message = err.body.message; // DynamoDB spells this one's member "Message"
        delete err.body.message;
        throw err;
      }
      const writes = parts
        .map((part, i) => ({ table: part.table, key: part.key, oldItem: part.oldItem, newItem: results[i].newItem, op: part.op }))
        .filter((write) => write.op !== 'ConditionCheck' && (write.oldItem || write.newItem));
      if (writes.length) await commit(ext, writes);
    } finally {
      release();
    }
    const answer = {};
    const capacity = consumed(data, parts, 2); // a transactional write costs two write units per item
    if (capacity) answer.ConsumedCapacity = capacity;
    if (data.ClientRequestToken) tokens.set(data.ClientRequestToken, { fingerprint, answer, at: Date.now() });
    return answer;
  }

  async function transactGetItems(data) {
    const store = ext.store;
    const parts = data.TransactItems.map((item) => ({ op: 'Get', data: item.Get }));
    await resolveParts(store, parts, (part) => {
      return db.validateKey(part.data.Key, part.table) || db.validateKeyPaths((part.data._projection || {}).nestedPaths, part.table);
    });
    // Read every item under the locks the writers take, so the answer is one consistent state.
    const release = await lockKeys(store, parts.map((part) => ({ tableName: part.data.TableName, key: part.key })));
    let items;
    try {
      items = await Promise.all(parts.map((part) => getItem(store, part.data.TableName, part.key)));
    } finally {
      release();
    }
    const answer = {
      Responses: items.map((item, i) => {
        if (!item) return {};
        const paths = parts[i].data._projection ? parts[i].data._projection.paths : null;
        return { Item: paths ? db.mapPaths(paths, item) : item };
      }),
    };
    const capacity = consumed(data, parts, 2);
    if (capacity) answer.ConsumedCapacity = capacity;
    return answer;
  }

  return {
    'DynamoDB_20120810.TransactWriteItems': { types: writeTypes, custom: writeCustom, run: transactWriteItems },
    'DynamoDB_20120810.TransactGetItems': { types: readTypes, custom: readCustom, run: transactGetItems },
  };
}
