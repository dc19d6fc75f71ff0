// The embedded DynamoDB engine: dynalite (pinned, installed by appsync_emu/dynamodb/engine.py),
// served on a loopback port for the emulator, functions and the user's own tools, with the
// extension that adds what dynalite lacks (transactions, TTL, Streams, ALL_OLD on a failed
// condition; see README.md).
//
//   node launcher.mjs <node_modules folder holding dynalite> [--path <folder>]
//
// Contract with appsync_emu/dynamodb/engine.py:
// - listens on 127.0.0.1 on a free port, then writes one line to stdout: {"port": <n>};
// - `--path`: tables and items are kept in LevelDB under that folder (else in memory);
// - tables are created, updated and deleted at once (no CREATING state to wait for);
// - exits when its stdin closes (the emulator is gone, however it ended) or on SIGTERM/SIGINT,
//   after closing the store; anything it writes to stderr is the engine's log.
import { frontHandler, loadDynalite } from './extension.mjs';
import { installStreams } from './streams.mjs';
import { transactRoutes } from './transact.mjs';
import { installTtl } from './ttl.mjs';

const [modules, ...rest] = process.argv.slice(2);
const dataPath = rest[0] === '--path' ? rest[1] : undefined;

const ext = loadDynalite(modules);
const streams = installStreams(ext);
const ttl = installTtl(ext, { trim: streams.trim });
const dynalite = ext.require('dynalite'); // after the hooks: its index.js loads the wrapped actions

const server = dynalite({ path: dataPath, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
const inner = server.listeners('request')[0];
server.removeAllListeners('request');
server.on('request', frontHandler(ext, inner, { ...transactRoutes(ext), ...streams.routes, ...ttl.routes }));

let closing = false;
function shutdown(code) {
  if (closing) return;
  closing = true;
  ttl.stop();
  server.close(() => process.exit(code));
  setTimeout(() => process.exit(code), 2000).unref();
}

server.on('error', (err) => {
  process.stderr.write(`dynalite: ${err.stack ?? err}\n`);
  process.exit(1);
});
await streams.load();
server.listen(0, '127.0.0.1', () => {
  ttl.start();
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.stdin.on('end', () => shutdown(0));
process.stdin.on('close', () => shutdown(0));
process.stdin.resume();
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
