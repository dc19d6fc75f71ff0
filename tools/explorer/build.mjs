// Rebuilds appsync_emu/explorer/static/vendor/ from the exact npm packages in package.json.
//
//   cd tools/explorer && npm ci && npm run build
//
// It copies the production (minified) browser builds the explorer page loads, each package's
// licence, the licences of everything GraphiQL's single-file build bundles (read from its source
// map), and writes NOTICE.md: file, package, version, licence, source tarball, size and sha256.
// Nothing else is generated: the explorer's own code is appsync_emu/explorer/static/explorer.js.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, 'node_modules');
const out = join(here, '..', '..', 'appsync_emu', 'explorer', 'static', 'vendor');
const lock = JSON.parse(readFileSync(join(here, 'package-lock.json'), 'utf8'));

// [vendored file name, package, path inside the package]
const FILES = [
  ['react.production.min.js', 'react', 'umd/react.production.min.js'],
  ['react-dom.production.min.js', 'react-dom', 'umd/react-dom.production.min.js'],
  ['graphiql.min.js', 'graphiql', 'graphiql.min.js'],
  ['graphiql.min.css', 'graphiql', 'graphiql.min.css'],
  ['aws4fetch.umd.js', 'aws4fetch', 'dist/aws4fetch.umd.js'],
];

const pkgJson = (dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const licenceFile = (dir) => readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** Every installed copy of `name` (top level and nested), so a bundled dependency finds its licence. */
function installed(name) {
  const found = [];
  const walk = (dir, depth) => {
    const candidate = join(dir, name);
    if (existsSync(join(candidate, 'package.json'))) found.push(candidate);
    if (depth > 4) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const sub = entry.name.startsWith('@') ? readdirSync(join(dir, entry.name)).map((n) => join(entry.name, n)) : [entry.name];
      for (const s of sub) {
        const nested = join(dir, s, 'node_modules');
        if (existsSync(nested)) walk(nested, depth + 1);
      }
    }
  };
  walk(modules, 0);
  return found;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'licenses'), { recursive: true });

const rows = [];
const packages = new Set();
let total = 0;
for (const [name, pkg, path] of FILES) {
  let text = readFileSync(join(modules, pkg, path), 'utf8');
  // The source maps are not shipped: drop the comment that would make devtools fetch one.
  text = text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n').replace(/\/\*# sourceMappingURL=\S+ \*\/\s*$/, '\n');
  writeFileSync(join(out, name), text);
  const buf = Buffer.from(text);
  total += buf.length;
  const meta = pkgJson(join(modules, pkg));
  const locked = lock.packages[`node_modules/${pkg}`];
  const resolved = locked.resolved ?? `https://registry.npmjs.org/${pkg}/-/${pkg.split('/').pop()}-${locked.version}.tgz`;
  rows.push(`| \`${name}\` | ${pkg} | ${meta.version} | ${meta.license} | ${resolved} (\`${path}\`) | ${buf.length} | \`${sha256(buf)}\` |`);
  packages.add(pkg);
}
for (const pkg of packages) {
  const dir = join(modules, pkg);
  writeFileSync(join(out, 'licenses', `${pkg}.LICENSE`), readFileSync(join(dir, licenceFile(dir))));
}

// What graphiql.min.js bundles besides GraphiQL's own monorepo packages, from its source map.
const map = JSON.parse(readFileSync(join(modules, 'graphiql', 'graphiql.min.js.map'), 'utf8'));
const bundled = new Set();
for (const source of map.sources) {
  const at = source.lastIndexOf('node_modules/');
  if (at < 0) continue; // GraphiQL's own packages (@graphiql/*, codemirror-graphql, graphql-language-service): graphiql's licence
  const parts = source.slice(at + 'node_modules/'.length).split('/');
  bundled.add(parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]);
}
const sections = [];
const missing = [];
for (const name of [...bundled].sort()) {
  const copies = installed(name);
  const dir = copies.find((d) => licenceFile(d)) ?? copies[0];
  if (!dir) {
    missing.push(name);
    continue;
  }
  const meta = pkgJson(dir);
  const file = licenceFile(dir);
  const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `(no licence file in the package; package.json says: ${meta.license})`;
  sections.push(`${'='.repeat(78)}\n${name} ${meta.version} (${meta.license})\n${'='.repeat(78)}\n${text}\n`);
}
writeFileSync(
  join(out, 'licenses', 'graphiql-bundled.txt'),
  `Licences of the third-party packages that graphiql.min.js (graphiql ${pkgJson(join(modules, 'graphiql')).version}) bundles,\n` +
    `as listed by its source map. Texts and versions are those npm installed next to it in tools/explorer.\n` +
    (missing.length ? `Not installed here, so their texts are missing: ${missing.join(', ')}.\n` : '') +
    `\n${sections.join('\n')}`,
);

const notice = `# Vendored browser code of the explorer

Generated by \`tools/explorer/build.mjs\` from the exact versions pinned in
\`tools/explorer/package.json\` and \`package-lock.json\`; rebuild with
\`cd tools/explorer && npm ci && npm run build\`. Do not edit these files by hand.

These are the packages' own production builds, copied unchanged except for the trailing
\`sourceMappingURL\` comment (the maps are not shipped). Total: ${total} bytes
(${(total / 1024 / 1024).toFixed(2)} MiB) before compression.

| file | package | version | licence | source | bytes | sha256 |
|---|---|---|---|---|---|---|
${rows.join('\n')}

Licences: \`licenses/<package>.LICENSE\` for each package above;
\`licenses/graphiql-bundled.txt\` for the ${bundled.size} third-party packages bundled inside
\`graphiql.min.js\` (graphql, codemirror 5, markdown-it, the Radix UI and Floating UI parts, …).
`;
writeFileSync(join(out, 'NOTICE.md'), notice);
console.log(`vendored ${FILES.length} files, ${total} bytes, into ${out}`);
if (missing.length) console.log(`bundled packages without an installed copy: ${missing.join(', ')}`);
