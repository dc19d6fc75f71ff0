// One Node.js execution environment: imports a user's handler once, then runs invocations.
//
// It plays the part of Lambda's Node.js runtime (aws-lambda-nodejs-runtime-interface-client):
// the same handler loading (CommonJS and ES modules, sub-folders), `context` object, console
// format, error shapes, callback and `callbackWaitsForEmptyEventLoop` rules (nodejs18.x-22.x;
// nodejs24.x takes async handlers only, as Lambda's Node.js 24 runtime does), and the same
// handling of unhandled rejections and uncaught exceptions (the invocation fails with them and
// the environment is replaced).
//
// Started by appsync_emu/lambdas/pool.py as `node worker.mjs <default NODE_PATH> <fd>`; frames on
// the socket at <fd> follow appsync_emu/lambdas/protocol.py, and stdout/stderr are the function's
// log. After each invocation (and after init) the log sentinel goes to stdout before the frame,
// so the emulator knows it has every line. When the invocation must end the process (an
// unhandled rejection or uncaught exception), the frame is sent without the sentinel and the
// process exits: the emulator then waits for the end of the output, which also tells it that
// this worker is gone.

import crypto from 'node:crypto';
import fs from 'node:fs';
import Module from 'node:module';
import net from 'node:net';
import path from 'node:path';
import util from 'node:util';
import { pathToFileURL } from 'node:url';

// --- what must match appsync_emu/lambdas/protocol.py and worker.py ------------------------------
const LOG_SENTINEL = '\x00\x1eappsync-emu:end-of-invocation\x1e\x00\n';
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

const WORKER_URL = import.meta.url;
const OWN_URL = new URL('.', WORKER_URL).href;
const require = Module.createRequire(WORKER_URL);
const [defaultNodePath, fdArgument] = process.argv.slice(2);
const declaredMajor = Number(/^AWS_Lambda_nodejs(\d+)/.exec(process.env.AWS_EXECUTION_ENV ?? '')?.[1] ?? 0);
/** Lambda's Node.js 24 runtime: async handlers only, no `context.done/succeed/fail`, no waiting for an empty event loop. */
const PROMISE_ONLY = declaredMajor >= 24;

// --- errors, as the runtime interface client shapes them ------------------------------------------

const runtimeError = (name, prefix = 'Runtime') => {
  const type = class extends Error {};
  Object.defineProperty(type.prototype, 'name', { value: `${prefix}.${name}`, writable: true, configurable: true });
  return type;
};
const ImportModuleError = runtimeError('ImportModuleError');
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
const CallbackHandlerDeprecated = runtimeError('CallbackHandlerDeprecated');
const NodeJsExit = runtimeError('NodeJsExit');
const ResponseSizeTooLarge = runtimeError('ResponseSizeTooLarge', 'Function');
class UnhandledPromiseRejection extends runtimeError('UnhandledPromiseRejection') {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}

const NODE_JS_EXIT_MESSAGE =
  'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise ' +
  'that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes';
const CALLBACK_REMOVED_MESSAGE =
  'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need ' +
  'to modify this function to use a supported handler signature to use Node.js 24 or later. For more information ' +
  'see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';
const CALLBACK_WARNING =
  'AWS Lambda plans to remove support for callback-based function handlers starting with Node.js 24. You will need ' +
  'to update this function to use an async handler to use Node.js 24 or later. For more information and to provide ' +
  'feedback on this change, see https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/issues/137. To ' +
  'disable this warning, set the AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING environment variable.';

/** A stack as far as the runtime's own frames (this folder's files): what is below them is plumbing. */
function stackLines(stack) {
  const lines = stack.split('\n');
  const own = lines.findIndex((line, index) => index > 0 && line.includes(OWN_URL));
  return own < 0 ? lines : lines.slice(0, own);
}

function isErrorLike(value) {
  return Boolean(
    value && typeof value.name === 'string' && typeof value.message === 'string' && typeof value.stack === 'string'
      && value.name && value.message && value.stack,
  );
}

/** The error document an invocation returns: `{errorType, errorMessage, trace}` (Errors.toRapidResponse). */
function errorResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: stackLines(error.stack) };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(value) {
  if (!(value instanceof Error)) return value;
  const out = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
  if (typeof value.stack === 'string') out.stack = stackLines(value.stack);
  return out;
}

/** The error as the runtime logs it: a tab, then JSON with the stack as lines (Errors.toFormatted). */
function formatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_key, value) => withEnumerableProperties(value));
  } catch {
    return '\t' + JSON.stringify(errorResponse(error));
  }
}

// --- the log: console.* tagged as Lambda's text format ---------------------------------------------

const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
const minimumLevel = LEVELS[process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;
let requestId; // undefined during init, as on Lambda

/** One log record: `<ISO time>\t<request id>\t<LEVEL>\t<util.format of the arguments>`, newlines as \r. */
function log(level, args) {
  const line = `${new Date().toISOString()}\t${requestId}\t${level}\t${util.format(...args)}`;
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const logger = (level) =>
    LEVELS[level] >= minimumLevel ? (message, ...params) => log(level, [message, ...params]) : () => {};
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = logger('INFO');
  console.log = console.info;
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = (message, ...params) => log('FATAL', [message, ...params]);
}

function logError(label, error) {
  if (LEVELS.ERROR >= minimumLevel) log('ERROR', [label, formatted(error instanceof Error ? error : new Error(error))]);
}

// --- the environment Lambda's runtime sets up --------------------------------------------------

/** NODE_PATH (the function's own first, then the package and code folders), PATH with this node first. */
async function setUpEnvironment() {
  if (defaultNodePath) {
    const own = process.env.NODE_PATH;
    process.env.NODE_PATH = own ? `${own}${path.delimiter}${defaultNodePath}` : defaultNodePath;
    Module._initPaths?.(); // require() reads NODE_PATH once, at start-up
  }
  const nodeDir = path.dirname(process.execPath);
  const entries = (process.env.PATH ?? '').split(path.delimiter);
  if (entries[0] !== nodeDir) process.env.PATH = [nodeDir, ...entries.filter((p) => p !== nodeDir)].join(path.delimiter);
  const folders = (process.env.NODE_PATH ?? '')
    .split(path.delimiter)
    .filter((folder) => folder && path.resolve(folder) !== path.resolve(taskRoot) && fs.existsSync(folder));
  if (folders.length) await registerResolveHooks(folders);
}

/** Let ES modules import from the NODE_PATH folders too (resolve.mjs); without the hook API, require() only. */
async function registerResolveHooks(folders) {
  const url = new URL('./resolve.mjs', WORKER_URL).href;
  if (typeof Module.registerHooks === 'function') {
    const hooks = await import(url);
    hooks.initialize({ folders });
    Module.registerHooks({ resolve: hooks.resolveSync });
  } else if (typeof Module.register === 'function') {
    Module.register(url, { data: { folders } });
  }
}

// --- loading the handler (UserFunction.load) ------------------------------------------------------

function tryRequire(file) {
  return fs.existsSync(file) ? require(file) : undefined;
}

async function tryImport(file) {
  return fs.existsSync(file) ? import(pathToFileURL(file).href) : undefined;
}

/** Whether the nearest package.json above `folder` says `"type": "module"` (a node_modules folder stops the search). */
function typeModule(folder) {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    if (dir.endsWith('/node_modules')) return false;
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8'))?.type === 'module';
      } catch (error) {
        console.warn(`${manifest} cannot be read, it will be ignored for ES module detection purposes.`, error);
        return false;
      }
    }
    if (dir === path.dirname(dir)) return false;
  }
}

async function loadModule(appRoot, moduleRoot, name) {
  const file = path.resolve(appRoot, moduleRoot, name);
  const extensionless = tryRequire(file);
  if (extensionless) return extensionless;
  const esm = fs.existsSync(file + '.js') && typeModule(path.dirname(file));
  if (!esm) {
    const loaded = tryRequire(file + '.js');
    if (loaded) return loaded;
  }
  const loaded = (esm && (await tryImport(file + '.js'))) || (await tryImport(file + '.mjs')) || tryRequire(file + '.cjs');
  if (loaded) return loaded;
  return require(require.resolve(name, { paths: [appRoot, moduleRoot] }));
}

/** The handler function named by `_HANDLER` (`src/handlers/app.handler`, `index.nested.fn`), or a Runtime.* error. */
async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(base));
  const match = /^([^.]*)\.(.*)$/.exec(base);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, name, handlerPath] = match;
  let app;
  try {
    app = await loadModule(appRoot, moduleRoot, name);
  } catch (error) {
    if (error instanceof SyntaxError) {
      // Lambda's message; the trace also keeps where the syntax error is (file, line, the code), unlike Lambda's
      const wrapped = new UserCodeSyntaxError(error);
      wrapped.stack = `${wrapped.name}: ${wrapped.message}\n${error.stack}`;
      throw wrapped;
    }
    if (error?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(error);
    throw error;
  }
  const handler = handlerPath.split('.').reduce((nested, key) => nested && nested[key], app);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

const isAsyncFunction = (fn) => fn?.constructor?.name === 'AsyncFunction';
const isPromise = (value) => Boolean(value && typeof value.then === 'function');

// --- the protocol socket ----------------------------------------------------------------------

const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
const socket = new net.Socket({ fd: Number(fdArgument), readable: true, writable: true });
let buffered = [];
let bufferedBytes = 0;
let expected = -1;

function take(size) {
  const all = buffered.length === 1 ? buffered[0] : Buffer.concat(buffered, bufferedBytes);
  const rest = all.subarray(size);
  buffered = rest.length ? [rest] : [];
  bufferedBytes = rest.length;
  return all.subarray(0, size);
}

function onData(chunk) {
  buffered.push(chunk);
  bufferedBytes += chunk.length;
  for (;;) {
    if (expected < 0) {
      if (bufferedBytes < 4) return;
      expected = take(4).readUInt32BE(0);
      if (expected > MAX_FRAME_BYTES) throw new Error(`frame of ${expected} bytes exceeds ${MAX_FRAME_BYTES}`);
    }
    if (bufferedBytes < expected) return;
    const body = take(expected);
    expected = -1;
    invoke(JSON.parse(body.toString('utf8')));
  }
}

function send(text, done) {
  const size = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(4 + size);
  frame.writeUInt32BE(size, 0);
  frame.write(text, 4, 'utf8');
  socket.write(frame, done);
}

const rssKb = () => process.resourceUsage().maxRSS;

/** Everything logged so far is on stdout (its writes block), so the sentinel after it tells the emulator the log is complete. */
function endOfLog() {
  fs.writeSync(1, LOG_SENTINEL);
}

/** The emulator is gone: stop what the handler started in this process group, then exit. */
function orphaned() {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.exit(1);
  }
}

// --- invocations --------------------------------------------------------------------------------

let handler;
let current = null; // the invocation running now
let beforeExit = null; // what an empty event loop means for it (nodejs18.x-22.x)

function traceId() {
  const random = crypto.randomBytes(20).toString('hex');
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, '0');
  return `Root=1-${seconds}-${random.slice(0, 24)};Parent=${random.slice(24, 40)};Sampled=0`;
}

/** Serialize the result (undefined is null) and check its size; throws what Lambda reports instead. */
function marshal(result) {
  let json;
  try {
    json = JSON.stringify(result === undefined ? null : result);
  } catch {
    throw new Error('Unable to stringify response body');
  }
  json ??= 'null';
  if (Buffer.byteLength(json) > MAX_RESPONSE_BYTES) {
    throw new ResponseSizeTooLarge(`Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`);
  }
  return json;
}

/** Send this invocation's answer once; `exitCode` ends the process after it (no sentinel: see the top). */
function finish(invocation, body, exitCode) {
  if (invocation !== current) return;
  current = null;
  beforeExit = null;
  if (exitCode === undefined) {
    endOfLog();
    send(body);
    socket.ref();
  } else {
    send(body, () => process.exit(exitCode));
  }
}

function postResponse(invocation, result) {
  if (invocation !== current) return;
  let json;
  try {
    json = marshal(result);
  } catch (error) {
    if (error instanceof ResponseSizeTooLarge) {
      logError('Invoke Error', error);
      finish(invocation, errorFrame({ errorType: error.name, errorMessage: error.message }));
      return;
    }
    throw error;
  }
  finish(invocation, `{"t":"result","ok":true,"rss_kb":${rssKb()},"payload":${json}}`);
}

function errorFrame(error) {
  return JSON.stringify({ t: 'result', ok: false, rss_kb: rssKb(), error });
}

function postError(invocation, error) {
  if (invocation !== current) return;
  logError('Invoke Error', error);
  finish(invocation, errorFrame(errorResponse(error)));
}

/** `callback`, `context.done/succeed/fail` and the flag, with the runtime's rules (CallbackContext.js). */
function callbackContext(invocation) {
  let waitForEmptyEventLoop = true;
  let completed = false;
  let finished = false;
  const complete = (result) => {
    if (completed) {
      console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
      return;
    }
    completed = true;
    postResponse(invocation, result);
  };
  const callback = (error, result) => {
    if (invocation === current) beforeExit = null;
    if (error !== undefined && error !== null) postError(invocation, error);
    else if (!waitForEmptyEventLoop) complete(result);
    else if (invocation === current) beforeExit = () => setImmediate(() => complete(result));
  };
  const done = (error, result) => {
    if (invocation === current) beforeExit = null;
    if (error !== undefined && error !== null) postError(invocation, error);
    else complete(result);
  };
  const once = (fn) => (...args) => {
    if (!finished) {
      fn(...args);
      finished = true;
    }
  };
  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: once((result) => done(null, result)),
    fail: once((error) => (error === undefined || error === null ? done('handled') : done(error, null))),
    done: once(done),
  };
  return { callback: once(callback), context, markCompleted: () => (completed = true) };
}

/** The `context` fields (InvokeContext.attachEnvironmentData), onto `base`. */
function contextFields(base, message) {
  const deadline = message.deadline;
  return Object.assign(base, {
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: undefined,
    identity: undefined,
    invokedFunctionArn: message.arn,
    awsRequestId: message.id,
    tenantId: undefined,
    getRemainingTimeInMillis() {
      return deadline - Date.now();
    },
  });
}

function invoke(message) {
  const invocation = { id: message.id };
  current = invocation;
  requestId = message.id;
  process.env._X_AMZN_TRACE_ID = traceId();
  if (PROMISE_ONLY) {
    const context = contextFields({}, message);
    let result;
    try {
      result = handler(message.event, context);
    } catch (error) {
      postError(invocation, error);
      return;
    }
    Promise.resolve(result).then(
      (value) => postResponse(invocation, value),
      (error) => postError(invocation, error),
    ).catch((error) => postError(invocation, error));
    return;
  }
  // Lambda's Node.js 18-22 runtimes: the invocation may also end with the callback, or when the event loop is empty.
  socket.unref();
  const { callback, context, markCompleted } = callbackContext(invocation);
  contextFields(context, message);
  beforeExit = () => {
    markCompleted();
    if (isAsyncFunction(handler)) postError(invocation, new NodeJsExit(NODE_JS_EXIT_MESSAGE));
    else postResponse(invocation, null);
  };
  try {
    const result = handler(message.event, context, callback);
    if (isPromise(result)) result.then(context.succeed, context.fail).catch(context.fail);
  } catch (error) {
    callback(error);
  }
}

/** An unhandled rejection or uncaught exception: it fails the init or the running invocation, and ends the process. */
function fatal(error, exitCode) {
  if (!handler) {
    endOfLog();
    send(JSON.stringify({ t: 'init_error', error: errorResponse(error) }), () => process.exit(exitCode));
  } else if (current) {
    finish(current, errorFrame(errorResponse(error)), exitCode);
  } else {
    process.exit(exitCode);
  }
}

// --- start ------------------------------------------------------------------------------------

process.stdout._handle?.setBlocking?.(true);
process.stderr._handle?.setBlocking?.(true);
patchConsole();
process.on('uncaughtException', (error) => {
  logError('Uncaught Exception', error);
  fatal(error, 129);
});
process.on('unhandledRejection', (reason, promise) => {
  const error = new UnhandledPromiseRejection(reason, promise);
  logError('Unhandled Promise Rejection', error);
  fatal(error, 128);
});
process.on('beforeExit', () => beforeExit?.());
socket.on('data', onData);
socket.on('end', orphaned);
socket.on('error', orphaned);

const started = performance.now();
try {
  await setUpEnvironment();
  const loaded = await loadHandler(taskRoot, process.env._HANDLER ?? '');
  const callbackStyle = loaded.length >= 3 && !isAsyncFunction(loaded);
  if (callbackStyle && PROMISE_ONLY) throw new CallbackHandlerDeprecated(CALLBACK_REMOVED_MESSAGE);
  if (callbackStyle && process.env.AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING === undefined) {
    console.warn(CALLBACK_WARNING);
  }
  handler = loaded;
} catch (error) {
  logError(PROMISE_ONLY ? 'Init Error' : 'Uncaught Exception', error);
  fatal(error, 129);
}
if (handler) {
  endOfLog();
  send(JSON.stringify({ t: 'ready', init_ms: performance.now() - started, rss_kb: rssKb() }));
}
