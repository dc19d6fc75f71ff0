// Time to Live on dynalite 4.0.0 (Apache-2.0, see extension.mjs).
//
// UpdateTimeToLive/DescribeTimeToLive keep a table's setting in `ext-ttl~<table>` (persisted with
// --path, dropped with the table; dynalite's describeTimeToLive and deleteTable actions are wrapped).
// A sweeper every APPSYNC_EMU_DYNAMODB_TTL_SWEEP_MS (default 5000) scans the tables with TTL and
// deletes the expired items through dynalite's own deleteItem action, with a condition that the item
// is still expired, so indexes and stream records follow the usual path; the stream record carries
// DynamoDB's service identity (userIdentity). As in DynamoDB, a TTL more than five years in the past is ignored, and
// the setting is ENABLED/DISABLED at once (no ENABLING/DISABLING phase).
import { getTable } from './extension.mjs';

const TTL = 'ext-ttl~';
// The Streams API spells the members PrincipalId/Type (its model's Identity shape, what every SDK
// parses); Lambda's event for the same record spells them principalId/type.
const SERVICE = { PrincipalId: 'dynamodb.amazonaws.com', Type: 'Service' };
const FIVE_YEARS_S = 5 * 365 * 24 * 60 * 60;
const TRIM_EVERY_MS = 60 * 1000;

export function installTtl(ext, { trim }) {
  const { db, validations } = ext;
  const sweepMs = Number(process.env.APPSYNC_EMU_DYNAMODB_TTL_SWEEP_MS) || 5000;

  async function readTtl(name) {
    try {
      return (await ext.store.db.get(TTL + name)) || null;
    } catch (err) {
      if (err.code === 'LEVEL_NOT_FOUND' || err.name === 'NotFoundError') return null;
      throw err;
    }
  }

  ext.wrapAction('describeTimeToLive', () => (store, data, cb) => {
    store.getTable(data.TableName, false, (err) => {
      if (err) return cb(err);
      readTtl(data.TableName).then((ttl) => cb(null, { TimeToLiveDescription: ttl || { TimeToLiveStatus: 'DISABLED' } }), cb);
    });
  });

  ext.wrapAction('deleteTable', (deleteTable) => (store, data, cb) => {
    deleteTable(store, data, (err, answer) => {
      if (err) return cb(err);
      store.db.del(TTL + data.TableName, (delErr) => cb(delErr || null, answer));
    });
  });

  async function updateTimeToLive(data) {
    const spec = data.TimeToLiveSpecification;
    await new Promise((resolve, reject) => ext.store.getTable(data.TableName, false, (err) => (err ? reject(err) : resolve())));
    const current = await readTtl(data.TableName);
    if (spec.Enabled) {
      if (current) throw db.validationError('TimeToLive is already enabled');
      await ext.store.db.put(TTL + data.TableName, { TimeToLiveStatus: 'ENABLED', AttributeName: spec.AttributeName });
    } else {
      if (!current) throw db.validationError('TimeToLive is already disabled');
      if (current.AttributeName !== spec.AttributeName) {
        throw db.validationError(`TimeToLive is active on a different AttributeName: current AttributeName is ${current.AttributeName}`);
      }
      await ext.store.db.del(TTL + data.TableName);
    }
    return { TimeToLiveSpecification: { AttributeName: spec.AttributeName, Enabled: spec.Enabled } };
  }

  // One expired item, deleted by dynalite's deleteItem if it is still expired when its lock is held.
  const deleteTypes = ext.actionTypes('deleteItem');
  let asService = null; // the store, but its writes carry the service identity (see extension's updateIndexes)
  function deleteExpired(table, attribute, item, now) {
    const data = {
      TableName: table.TableName,
      Key: Object.fromEntries(table.KeySchema.map(({ AttributeName }) => [AttributeName, item[AttributeName]])),
      ConditionExpression: '#ttl < :now',
      ExpressionAttributeNames: { '#ttl': attribute },
      ExpressionAttributeValues: { ':now': { N: String(now) } },
    };
    validations.checkValidations(data, deleteTypes.types, deleteTypes.custom, ext.store);
    if (!asService || Object.getPrototypeOf(asService) !== ext.store) asService = Object.create(ext.store, { identity: { value: SERVICE } });
    return new Promise((resolve) =>
      ext.action('deleteItem')(asService, data, (err) => {
        if (err && !(err.body && /ConditionalCheckFailed/.test(err.body.__type))) process.stderr.write(`ttl: ${err.stack ?? err}\n`);
        resolve();
      }),
    );
  }

  async function sweep() {
    const now = Date.now() / 1000;
    for await (const [key, ttl] of ext.store.db.iterator({ gte: TTL, lt: `${TTL}\xff` })) {
      const name = key.slice(TTL.length);
      let table;
      try {
        table = await getTable(ext.store, name);
      } catch {
        continue;
      }
      const expired = [];
      for await (const item of ext.store.db.values({ gte: `item-${name}~`, lt: `item-${name}~\xff` })) {
        const value = item[ttl.AttributeName];
        const at = value && value.N != null ? Number(value.N) : NaN;
        if (at < now && at > now - FIVE_YEARS_S) expired.push(item);
      }
      for (const item of expired) await deleteExpired(table, ttl.AttributeName, item, now);
    }
  }

  let timer = null;
  let stopped = false;
  let lastTrim = Date.now();
  async function tick() {
    try {
      await sweep();
      if (Date.now() - lastTrim > TRIM_EVERY_MS) {
        lastTrim = Date.now();
        await trim();
      }
    } catch (err) {
      if (!stopped && !/Database is (not open|closed)/.test(String(err))) process.stderr.write(`ttl: ${err.stack ?? err}\n`);
    }
    if (!stopped) timer = setTimeout(tick, sweepMs).unref();
  }

  return {
    start: () => (timer = setTimeout(tick, sweepMs).unref()),
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
    routes: {
      'DynamoDB_20120810.UpdateTimeToLive': {
        types: {
          TableName: ext.actionTypes('describeTimeToLive').types.TableName,
          TimeToLiveSpecification: {
            type: 'FieldStruct<TimeToLiveSpecification>',
            notNull: true,
            children: {
              AttributeName: { type: 'String', notNull: true, lengthGreaterThanOrEqual: 1, lengthLessThanOrEqual: 255 },
              Enabled: { type: 'Boolean', notNull: true },
            },
          },
        },
        run: updateTimeToLive,
      },
    },
  };
}
