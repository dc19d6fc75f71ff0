// DynamoDB Streams on dynalite 4.0.0 (Apache-2.0, see extension.mjs).
//
// - CreateTable/UpdateTable keep StreamSpecification and answer LatestStreamArn/LatestStreamLabel
//   (dynalite's createTable/updateTable/deleteTable actions are wrapped; the fields live in dynalite's
//   own table entry, so DescribeTable answers them too).
// - Every write to a table with a stream (extension.commit) appends one record, in the same LevelDB
//   batch as the item: `ext-rec~<stream arn>~<21-digit sequence number>`. A write that changes
//   nothing appends nothing. Records older than 24 hours are trimmed (by the TTL sweeper's timer).
// - Streams are kept in `ext-stream~<arn>` (also after their table is deleted, as DISABLED), so
//   both persist with --path.
// - One shard per stream, never split (DynamoDB rolls shards about every four hours).
// - Sequence numbers come from one counter for all streams; a record is visible to GetRecords only
//   once every record before it is on disk (two batches may finish out of order).
import crypto from 'node:crypto';
import { serviceError } from './extension.mjs';

const REC = 'ext-rec~';
const STREAM = 'ext-stream~';
const RETENTION_S = 24 * 60 * 60;
const ITERATOR_MS = 15 * 60 * 1000;
const VIEW_TYPES = ['NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES', 'KEYS_ONLY'];
const pad = (seq) => String(seq).padStart(21, '0');
const recKey = (arn, seq) => `${REC}${arn}~${pad(seq)}`;

// Same content, whatever the order of map members and set elements.
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const key of Object.keys(value).sort()) {
    const v = value[key];
    out[key] = (key === 'SS' || key === 'NS' || key === 'BS') && Array.isArray(v) ? [...v].sort() : canonical(v);
  }
  return out;
}
const sameItem = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

export function installStreams(ext) {
  const { db } = ext;
  const streams = new Map(); // arn -> description kept in STREAM
  const inFlight = new Set(); // sequence numbers whose batch is not on disk yet
  let lastSeq = 0;

  const visibleUpTo = () => (inFlight.size ? Math.min(...inFlight) - 1 : lastSeq);
  const saveStream = (stream) => ext.store.db.put(STREAM + stream.StreamArn, stream);
  const shardId = (stream) =>
    `shardId-${String(Math.floor(stream.CreationRequestDateTime * 1000)).padStart(20, '0')}-${crypto.createHash('md5').update(stream.StreamArn).digest('hex').slice(0, 8)}`;

  async function load() {
    for await (const stream of ext.store.db.values({ gte: STREAM, lt: `${STREAM}\xff` })) {
      streams.set(stream.StreamArn, stream);
      lastSeq = Math.max(lastSeq, stream.startSeq - 1, stream.endSeq || 0);
      const [last] = await ext.store.db.keys({ gte: `${REC}${stream.StreamArn}~`, lt: `${REC}${stream.StreamArn}~\xff`, reverse: true, limit: 1 }).all();
      if (last) lastSeq = Math.max(lastSeq, Number(last.slice(-21)));
    }
  }

  // Stream records for a batch of writes (extension.commit); `afterWrite` makes them visible.
  ext.onWrite = (writes) => {
    const records = [];
    for (const { table, oldItem, newItem, identity } of writes) {
      const spec = table.StreamSpecification;
      if (!spec || !spec.StreamEnabled || !table.LatestStreamArn) continue;
      if ((!oldItem && !newItem) || (oldItem && newItem && sameItem(oldItem, newItem))) continue;
      const image = newItem || oldItem;
      const keys = Object.fromEntries(table.KeySchema.map(({ AttributeName }) => [AttributeName, image[AttributeName]]));
      const view = spec.StreamViewType;
      const seq = ++lastSeq;
      const change = { ApproximateCreationDateTime: Math.floor(Date.now() / 1000), Keys: keys };
      if (newItem && (view === 'NEW_IMAGE' || view === 'NEW_AND_OLD_IMAGES')) change.NewImage = newItem;
      if (oldItem && (view === 'OLD_IMAGE' || view === 'NEW_AND_OLD_IMAGES')) change.OldImage = oldItem;
      change.SequenceNumber = pad(seq);
      change.SizeBytes = db.itemSize(keys) + (change.NewImage ? db.itemSize(newItem) : 0) + (change.OldImage ? db.itemSize(oldItem) : 0);
      change.StreamViewType = view;
      const record = {
        eventID: crypto.randomBytes(16).toString('hex'),
        eventName: !oldItem ? 'INSERT' : !newItem ? 'REMOVE' : 'MODIFY',
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: ext.store.tableDb.awsRegion,
        dynamodb: change,
      };
      if (identity) record.userIdentity = identity;
      inFlight.add(seq);
      records.push({ seq, op: { type: 'put', key: recKey(table.LatestStreamArn, seq), value: record } });
    }
    return records;
  };
  ext.afterWrite = (records) => records.forEach(({ seq }) => inFlight.delete(seq));

  // --- the table side: CreateTable, UpdateTable, DeleteTable --------------------------------------
  const specType = {
    type: 'FieldStruct<StreamSpecification>',
    children: { StreamEnabled: { type: 'Boolean', notNull: true }, StreamViewType: { type: 'String', enum: VIEW_TYPES } },
  };
  ext.actionTypes('createTable').types.StreamSpecification = specType;
  const updateValidation = ext.actionTypes('updateTable');
  updateValidation.types.StreamSpecification = specType;
  const updateCustom = updateValidation.custom;
  updateValidation.custom = (data, store) => {
    const msg = updateCustom(data, store);
    return msg && data.StreamSpecification && /^At least one of/.test(msg) ? undefined : msg;
  };

  function checkSpec(spec) {
    if (spec.StreamEnabled && !spec.StreamViewType) {
      return db.validationError('One or more parameter values were invalid: StreamViewType is required when StreamEnabled is true');
    }
    if (!spec.StreamEnabled && spec.StreamViewType) {
      return db.validationError('One or more parameter values were invalid: StreamViewType cannot be specified when StreamEnabled is false');
    }
  }

  // A new stream for `table` (its entry is changed in place; the caller writes it).
  function openStream(table, spec) {
    const now = new Date();
    const label = now.toISOString().replace('Z', '');
    const tableArn = `arn:aws:dynamodb:${ext.store.tableDb.awsRegion}:${ext.store.tableDb.awsAccountId}:table/${table.TableName}`;
    table.StreamSpecification = { StreamEnabled: true, StreamViewType: spec.StreamViewType };
    table.LatestStreamLabel = label;
    table.LatestStreamArn = `${tableArn}/stream/${label}`;
    const stream = {
      StreamArn: table.LatestStreamArn,
      StreamLabel: label,
      StreamStatus: 'ENABLED',
      StreamViewType: spec.StreamViewType,
      CreationRequestDateTime: now.getTime() / 1000,
      TableName: table.TableName,
      KeySchema: table.KeySchema,
      startSeq: lastSeq + 1,
    };
    streams.set(stream.StreamArn, stream);
    return stream;
  }

  function closeStream(arn) {
    const stream = streams.get(arn);
    if (!stream || stream.StreamStatus !== 'ENABLED') return null;
    stream.StreamStatus = 'DISABLED';
    stream.endSeq = lastSeq;
    return stream;
  }

  ext.wrapAction('createTable', (createTable) => (store, data, cb) => {
    const spec = data.StreamSpecification;
    delete data.StreamSpecification;
    const invalid = spec && checkSpec(spec);
    if (invalid) return cb(invalid);
    const stream = spec && spec.StreamEnabled ? openStream(data, spec) : null;
    createTable(store, data, (err, answer) => {
      if (err || !stream) {
        if (stream) streams.delete(stream.StreamArn);
        return cb(err, answer);
      }
      saveStream(stream).then(() => cb(null, answer), cb);
    });
  });

  ext.wrapAction('updateTable', (updateTable) => (store, data, cb) => {
    const spec = data.StreamSpecification;
    if (!spec) return updateTable(store, data, cb);
    delete data.StreamSpecification;
    const invalid = checkSpec(spec);
    if (invalid) return cb(invalid);
    const others = data.ProvisionedThroughput || data.BillingMode || data.SSESpecification || (data.GlobalSecondaryIndexUpdates || []).length;
    // Under dynalite's own table lock, so that its updateTable (run after, if asked) sees the change.
    store.tableDb.lock(data.TableName, (release) => {
      const done = release((err, table) => {
        if (err) return cb(err);
        if (others) return updateTable(store, data, cb);
        cb(null, { TableDescription: table });
      });
      store.getTable(data.TableName, false, (err, table) => {
        if (err) return done(err);
        let stream;
        if (spec.StreamEnabled) {
          if (table.StreamSpecification && table.StreamSpecification.StreamEnabled) {
            return done(db.validationError(`Table already has an enabled stream: TableName: ${table.TableName}`));
          }
          stream = openStream(table, spec);
        } else {
          if (!table.StreamSpecification || !table.StreamSpecification.StreamEnabled) {
            return done(db.validationError(`Table already has no enabled stream: TableName: ${table.TableName}`));
          }
          delete table.StreamSpecification;
          stream = closeStream(table.LatestStreamArn);
        }
        const putTable = new Promise((resolve, reject) => store.tableDb.put(table.TableName, table, (e) => (e ? reject(e) : resolve())));
        Promise.all([stream && saveStream(stream), putTable]).then(() => done(null, table), done);
      });
    });
  });

  ext.wrapAction('deleteTable', (deleteTable) => (store, data, cb) => {
    deleteTable(store, data, (err, answer) => {
      if (err) return cb(err);
      const stream = closeStream(answer.TableDescription.LatestStreamArn);
      if (!stream) return cb(null, answer);
      saveStream(stream).then(() => cb(null, answer), cb);
    });
  });

  // --- the DynamoDB Streams API ---------------------------------------------------------------------
  const arnType = { type: 'String', lengthGreaterThanOrEqual: 37, lengthLessThanOrEqual: 1024 };
  const shardType = { type: 'String', lengthGreaterThanOrEqual: 28, lengthLessThanOrEqual: 65 };

  function findStream(arn) {
    const stream = streams.get(arn);
    if (!stream) throw serviceError('ResourceNotFoundException', `Requested resource not found: Stream: ${arn} not found`);
    return stream;
  }

  function describe(stream) {
    const range = { StartingSequenceNumber: pad(stream.startSeq) };
    if (stream.StreamStatus !== 'ENABLED') range.EndingSequenceNumber = pad(Math.max(stream.endSeq, stream.startSeq));
    const { startSeq, endSeq, trimmedTo, ...description } = stream;
    return { ...description, Shards: [{ ShardId: shardId(stream), SequenceNumberRange: range }] };
  }

  // A shard iterator: `<stream arn>|1|<base64 of {shard, position after which to read, issued at}>`,
  // the form DynamoDB's have (opaque to clients).
  const iterator = (stream, after) =>
    `${stream.StreamArn}|1|${Buffer.from(JSON.stringify({ s: shardId(stream), a: after, t: Date.now() })).toString('base64')}`;

  function readIterator(text) {
    const [arn, version, payload] = text.split('|');
    let position;
    try {
      position = JSON.parse(Buffer.from(payload, 'base64').toString());
    } catch {
      position = null;
    }
    if (version !== '1' || !position || typeof position.a !== 'number' || typeof position.t !== 'number') {
      throw db.validationError('Invalid ShardIterator');
    }
    const stream = streams.get(arn);
    if (!stream || position.s !== shardId(stream)) throw serviceError('ResourceNotFoundException', 'Invalid ShardId in ShardIterator');
    if (Date.now() - position.t > ITERATOR_MS) throw serviceError('ExpiredIteratorException', 'Shard iterator has expired');
    if (stream.trimmedTo && position.a < stream.trimmedTo) {
      throw serviceError('TrimmedDataAccessException', 'The data you are trying to access has been trimmed');
    }
    return { stream, after: position.a };
  }

  async function listStreams(data) {
    let list = [...streams.values()].filter((s) => !data.TableName || s.TableName === data.TableName);
    list.sort((a, b) => (a.StreamArn < b.StreamArn ? -1 : 1));
    if (data.ExclusiveStartStreamArn) list = list.filter((s) => s.StreamArn > data.ExclusiveStartStreamArn);
    const limit = data.Limit || 100;
    const answer = { Streams: list.slice(0, limit).map(({ StreamArn, TableName, StreamLabel }) => ({ StreamArn, TableName, StreamLabel })) };
    if (list.length > limit) answer.LastEvaluatedStreamArn = answer.Streams[limit - 1].StreamArn;
    return answer;
  }

  async function describeStream(data) {
    return { StreamDescription: describe(findStream(data.StreamArn)) };
  }

  async function getShardIterator(data) {
    const stream = findStream(data.StreamArn);
    if (data.ShardId !== shardId(stream)) {
      throw serviceError('ResourceNotFoundException', `Requested resource not found: Shard does not exist`);
    }
    const type = data.ShardIteratorType;
    const last = stream.StreamStatus === 'ENABLED' ? visibleUpTo() : stream.endSeq;
    if (type === 'TRIM_HORIZON') return { ShardIterator: iterator(stream, Math.max(stream.startSeq - 1, stream.trimmedTo || 0)) };
    if (type === 'LATEST') return { ShardIterator: iterator(stream, Math.max(last, stream.startSeq - 1)) };
    if (data.SequenceNumber == null) {
      throw db.validationError(`SequenceNumber must be specified when ShardIteratorType is ${type}`);
    }
    const seq = /^\d{21,40}$/.test(data.SequenceNumber) ? Number(data.SequenceNumber) : NaN;
    const end = stream.StreamStatus === 'ENABLED' ? Infinity : stream.endSeq;
    if (!(seq >= stream.startSeq && seq <= end)) {
      throw db.validationError(`Invalid SequenceNumber ${data.SequenceNumber} for shard ${data.ShardId}`);
    }
    if (stream.trimmedTo && seq <= stream.trimmedTo) {
      throw serviceError('TrimmedDataAccessException', 'The data you are trying to access has been trimmed');
    }
    return { ShardIterator: iterator(stream, type === 'AT_SEQUENCE_NUMBER' ? seq - 1 : seq) };
  }

  async function getRecords(data) {
    const { stream, after } = readIterator(data.ShardIterator);
    const last = stream.StreamStatus === 'ENABLED' ? visibleUpTo() : stream.endSeq;
    const entries = last > after
      ? await ext.store.db.iterator({ gt: recKey(stream.StreamArn, after), lte: recKey(stream.StreamArn, last), limit: data.Limit || 1000 }).all()
      : [];
    const records = entries.map(([, record]) => record);
    const next = records.length ? Number(records[records.length - 1].dynamodb.SequenceNumber) : after;
    const answer = { Records: records };
    // A closed shard read to its end has no next iterator.
    if (stream.StreamStatus === 'ENABLED' || next < stream.endSeq) answer.NextShardIterator = iterator(stream, next);
    return answer;
  }

  // Drops records older than 24 hours (called now and then by the sweeper's timer).
  async function trim() {
    const horizon = Date.now() / 1000 - RETENTION_S;
    for (const stream of streams.values()) {
      const prefix = `${REC}${stream.StreamArn}~`;
      const old = [];
      for await (const [key, record] of ext.store.db.iterator({ gte: prefix, lt: `${prefix}\xff` })) {
        if (record.dynamodb.ApproximateCreationDateTime >= horizon) break;
        old.push(key);
      }
      if (!old.length) continue;
      await ext.store.db.batch(old.map((key) => ({ type: 'del', key })));
      stream.trimmedTo = Number(old[old.length - 1].slice(-21));
      await saveStream(stream);
    }
  }

  const routes = {
    'DynamoDBStreams_20120810.ListStreams': {
      types: {
        TableName: { type: 'String', regex: '[a-zA-Z0-9_.-]+', lengthGreaterThanOrEqual: 3, lengthLessThanOrEqual: 255 },
        Limit: { type: 'Integer', greaterThanOrEqual: 1, lessThanOrEqual: 100 },
        ExclusiveStartStreamArn: arnType,
      },
      run: listStreams,
    },
    'DynamoDBStreams_20120810.DescribeStream': {
      types: {
        StreamArn: { ...arnType, notNull: true },
        Limit: { type: 'Integer', greaterThanOrEqual: 1, lessThanOrEqual: 100 },
        ExclusiveStartShardId: shardType,
      },
      run: describeStream,
    },
    'DynamoDBStreams_20120810.GetShardIterator': {
      types: {
        StreamArn: { ...arnType, notNull: true },
        ShardId: { ...shardType, notNull: true },
        ShardIteratorType: { type: 'String', notNull: true, enum: ['TRIM_HORIZON', 'LATEST', 'AT_SEQUENCE_NUMBER', 'AFTER_SEQUENCE_NUMBER'] },
        SequenceNumber: { type: 'String', lengthGreaterThanOrEqual: 21, lengthLessThanOrEqual: 40 },
      },
      run: getShardIterator,
    },
    'DynamoDBStreams_20120810.GetRecords': {
      types: {
        ShardIterator: { type: 'String', notNull: true, lengthGreaterThanOrEqual: 1, lengthLessThanOrEqual: 2048 },
        Limit: { type: 'Integer', greaterThanOrEqual: 1, lessThanOrEqual: 1000 },
      },
      run: getRecords,
    },
  };
  return { load, trim, routes };
}
