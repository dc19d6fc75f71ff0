// Module resolution hooks for Node.js workers: bare specifiers that ES modules cannot find are
// looked up in the NODE_PATH folders too.
//
// Node.js honours NODE_PATH for require() only. Lambda's Node.js runtime also resolves `import`
// through it (that is how ES modules import the `@aws-sdk/*` packages the runtime provides), so
// a specifier the default resolution cannot find is tried from inside each NODE_PATH folder,
// with the importing module's own conditions and the packages' `exports` maps. A folder is
// searched the way Node searches a `node_modules` folder: `<folder>/<package>` when the folder
// is itself named node_modules (as NODE_PATH folders usually are), `<folder>/node_modules/…`
// otherwise. Registered by worker.mjs only when NODE_PATH names a folder other than the code's.

import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** @type {string[]} */
let parents = [];

/** The folders, as files inside them from which Node's own package lookup starts. */
export function initialize(data) {
  parents = (data?.folders ?? []).map((folder) => pathToFileURL(path.join(folder, '__node_path__.mjs')).href);
}

/** A package name (`pkg`, `@scope/pkg/sub`), not a relative, absolute, URL or `#import` specifier. */
function isBare(specifier) {
  return !/^(?:\.{0,2}\/|[a-zA-Z][a-zA-Z\d+.-]*:|#)/.test(specifier);
}

function fallbacks(specifier, context) {
  return isBare(specifier) ? parents.map((parentURL) => ({ ...context, parentURL })) : [];
}

/** Asynchronous hook (`module.register`, Node.js 20.6+). */
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    for (const fallback of fallbacks(specifier, context)) {
      try {
        return await nextResolve(specifier, fallback);
      } catch {
        // not in this folder: try the next one
      }
    }
    throw error;
  }
}

/** The same, synchronous (`module.registerHooks`, Node.js 22.15+: no hooks thread). */
export function resolveSync(specifier, context, nextResolve) {
  try {
    return nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    for (const fallback of fallbacks(specifier, context)) {
      try {
        return nextResolve(specifier, fallback);
      } catch {
        // not in this folder: try the next one
      }
    }
    throw error;
  }
}
