// The Amplify AppSync simulator (the engine of `amplify mock`, npm @aws-amplify/amplify-appsync-simulator)
// serving examples/quickstart's schema with API key auth, for bench/vs_amplify.py.
//
//   node server.mjs [--port 0] [--host 127.0.0.1] [--api-key KEY]
//
// The simulator has no APPSYNC_JS runtime (its lib/ knows only VTL mapping templates), so
// Query.hello and Mutation.postMessage are the VTL equivalents of examples/quickstart/resolvers/*.js
// on a NONE data source (resolvers/*.vtl here). Templates are passed as named mapping templates, as
// `amplify mock` does, so each is parsed once at start-up rather than per request.
// Prints `GraphQL: URL`, `API key: KEY`, then `ready on URL (API key KEY)` once it accepts connections.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { AmplifyAppSyncSimulator, RESOLVER_KIND } = require('@aws-amplify/amplify-appsync-simulator');
const simVersion = require('@aws-amplify/amplify-appsync-simulator/package.json').version;

const here = dirname(fileURLToPath(import.meta.url));
const quickstart = join(here, '..', '..', 'examples', 'quickstart');
const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'api-key': { type: 'string', default: 'da2-benchmarkbenchmarkbench0' },
  },
});

const templatesDir = join(here, 'resolvers');
const mappingTemplates = readdirSync(templatesDir)
  .filter((f) => f.endsWith('.vtl'))
  .map((f) => ({ path: f, content: readFileSync(join(templatesDir, f), 'utf8') }));
const unit = (typeName, fieldName) => ({
  kind: RESOLVER_KIND.UNIT,
  typeName,
  fieldName,
  dataSourceName: 'NoneDs',
  requestMappingTemplateLocation: `${typeName}.${fieldName}.req.vtl`,
  responseMappingTemplateLocation: `${typeName}.${fieldName}.res.vtl`,
});

const simulator = new AmplifyAppSyncSimulator({ port: 0, wsPort: 0 });
simulator.init({
  schema: { path: 'schema.graphql', content: readFileSync(join(quickstart, 'schema.graphql'), 'utf8') },
  dataSources: [{ name: 'NoneDs', type: 'NONE' }],
  mappingTemplates,
  resolvers: [unit('Query', 'hello'), unit('Mutation', 'postMessage')],
  appSync: {
    name: 'quickstart',
    defaultAuthenticationType: { authenticationType: 'API_KEY' },
    apiKey: opts['api-key'],
    additionalAuthenticationProviders: [],
  },
});

// simulator.start() would listen on every interface at a port in 8900-9999; do what it does
// (real-time server, then the HTTP server) but on the loopback host and the port asked for.
const server = simulator._server;
await server._realTimeSubscriptionServer.start();
const http = server._httpServer;
await new Promise((resolve, reject) => {
  http.once('error', reject);
  http.listen(Number(opts.port), opts.host, resolve);
});
const url = `http://${opts.host}:${http.address().port}/graphql`;
console.log(`amplify-appsync-simulator ${simVersion} (node ${process.version}), VTL resolvers on NONE`);
console.log(`  GraphQL: ${url}`);
console.log(`  API key: ${opts['api-key']}`);
console.log(`ready on ${url} (API key ${opts['api-key']})`);

const stop = () => {
  http.closeAllConnections?.();
  http.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
