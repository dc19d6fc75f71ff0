// The APPSYNC_JS runtime library: `util`, `runtime`, `extensions`, `console`, the
// `@aws-appsync/utils*` modules, and the `__define` / `__invoke` / `__provide` entry points used
// by runtime.py. Evaluated once per quickjs context, after javatime.js and before any module.
// The quickjs binding cannot call Python while a CPU time limit is set, so everything is JS;
// the few values only Python has (time-zone rules, parsed XML) are requested with a "host"
// outcome: Python computes the value, hands it to `__provide`, and runs the handler again.
"use strict";
(function (g) {
  Error.stackTraceLimit = 16;
  const seed = g.__seed;
  delete g.__seed;
  const javatime = g.__javatime((name) => hostValue("zone", name));
  delete g.__javatime;

  // Taken before anything can replace them (the realm is frozen at the end, see lockdown).
  const stringify = JSON.stringify, parse = JSON.parse;
  const OVERRIDABLE = ["constructor", "name", "message", "toString", "toLocaleString", "valueOf", "toJSON"];

  // --- per-call state -----------------------------------------------------------------------
  let cur = null; // {info, authType, errors, logs, headers, sf, inf, inv}
  class Signal {
    constructor(out) { this.out = out; }
  }
  const memo = new Map();
  function hostValue(kind, arg) {
    const v = memo.get(kind + "\u0000" + arg);
    if (v === undefined) {
      if (cur === null) throw new Error("this utility cannot be used while the module loads");
      throw new Signal({ s: "host", kind, arg });
    }
    if (v.err !== undefined) throw new Error(v.err);
    return v.ok;
  }
  function provide(kind, arg, json) {
    if (memo.size >= 256) memo.delete(memo.keys().next().value);
    memo.set(kind + "\u0000" + arg, JSON.parse(json));
  }
  function state() {
    if (cur === null) throw new Error("this utility can only be used while a request or response handler runs");
    return cur;
  }
  function text(v) {
    if (typeof v === "string") return v;
    if (v === undefined) return "undefined";
    if (v === null) return "null";
    if (typeof v === "object") {
      try { return JSON.stringify(v); } catch (e) { return String(v); }
    }
    return String(v);
  }
  function opt(v) { return v === undefined ? null : v; }

  // --- ids (xoshiro128** seeded with 128 bits from Python's os.urandom per context) -----------
  let r0 = seed[0] | 0, r1 = seed[1] | 0, r2 = seed[2] | 0, r3 = seed[3] | 0;
  function next32() {
    const result = Math.imul(rotl(Math.imul(r1, 5), 7), 9) >>> 0;
    const t = r1 << 9;
    r2 ^= r0; r3 ^= r1; r1 ^= r2; r0 ^= r3; r2 ^= t;
    r3 = rotl(r3, 11);
    return result;
  }
  function rotl(x, k) { return (x << k) | (x >>> (32 - k)); }
  const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
  function autoId() {
    const a = next32(), b = next32(), c = next32(), d = next32();
    const bytes = [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255,
                   b >>> 24, (b >>> 16) & 255, (((b >>> 8) & 255) & 0x0f) | 0x40, b & 255,
                   (((c >>> 24) & 255) & 0x3f) | 0x80, (c >>> 16) & 255, (c >>> 8) & 255, c & 255,
                   d >>> 24, (d >>> 16) & 255, (d >>> 8) & 255, d & 255];
    let out = "";
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) out += "-";
      out += HEX[bytes[i]];
    }
    return out;
  }
  const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  function autoUlid() {
    let t = Date.now();
    let head = "";
    for (let i = 0; i < 10; i++) {
      head = CROCKFORD[t % 32] + head;
      t = Math.floor(t / 32);
    }
    let tail = "";
    for (let i = 0; i < 16; i++) tail += CROCKFORD[next32() & 31];
    return head + tail;
  }
  const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  function autoKsuid() {
    let v = BigInt(Math.floor(Date.now() / 1000) - 1400000000);
    for (let i = 0; i < 4; i++) v = (v << 32n) | BigInt(next32());
    let out = "";
    while (v > 0n) {
      out = BASE62[Number(v % 62n)] + out;
      v /= 62n;
    }
    return out.padStart(27, "0");
  }

  // --- UTF-8 and base64 (java.util.Base64 over the string's UTF-8 bytes) -----------------------
  function utf8Encode(s) {
    const out = [];
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c < 0xe000) c = 0x3f;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return out;
  }
  function utf8Decode(bytes) {
    let out = "";
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i];
      let need = 0, c = 0, min = 0;
      if (b < 0x80) { out += String.fromCharCode(b); i++; continue; }
      if (b >= 0xc2 && b < 0xe0) { need = 1; c = b & 31; min = 0x80; }
      else if (b >= 0xe0 && b < 0xf0) { need = 2; c = b & 15; min = 0x800; }
      else if (b >= 0xf0 && b < 0xf5) { need = 3; c = b & 7; min = 0x10000; }
      else { out += "\ufffd"; i++; continue; }
      let j = 1;
      for (; j <= need; j++) {
        const x = bytes[i + j];
        if (x === undefined || (x & 0xc0) !== 0x80) break;
        c = (c << 6) | (x & 63);
      }
      if (j <= need || c < min || c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) {
        out += "\ufffd";
        i += Math.max(1, j);
        continue;
      }
      out += String.fromCodePoint(c);
      i += need + 1;
    }
    return out;
  }
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const B64_INDEX = Object.fromEntries(Array.from(B64, (c, i) => [c, i]));
  function base64Encode(bytes) {
    let out = "";
    let i = 0;
    for (; i + 2 < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
    }
    if (i < bytes.length) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8);
      out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : "=") + "=";
    }
    return out;
  }
  function base64Decode(s) {
    const t = s.replace(/=+$/, "");
    if (t.length % 4 === 1) throw new Error("Illegal base64 length");
    const out = [];
    let acc = 0, bits = 0;
    for (const ch of t) {
      const v = B64_INDEX[ch];
      if (v === undefined) throw new Error("Illegal base64 character '" + ch + "'");
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((acc >> bits) & 255);
      }
    }
    return out;
  }

  // --- java.util.regex.Pattern, translated to a JS RegExp for util.matches ------------------------
  const POSIX = {
    Lower: "a-z", Upper: "A-Z", ASCII: "\\x00-\\x7F", Alpha: "a-zA-Z", Digit: "0-9", Alnum: "a-zA-Z0-9",
    Punct: "!-\\/:-@\\[-`{-~", Graph: "!-~", Print: " -~", Blank: " \\t", Cntrl: "\\x00-\\x1F\\x7F",
    XDigit: "0-9a-fA-F", Space: " \\t\\n\\x0B\\f\\r",
  };
  const UNICODE = { L: "L", Alphabetic: "Alphabetic", Letter: "L", Lu: "Lu", Ll: "Ll", Uppercase: "Lu",
                    Lowercase: "Ll", N: "N", Nd: "Nd", Digit: "Nd", P: "P", S: "S", Z: "Z", White_Space: "White_Space" };
  const regexes = new Map();
  function javaRegex(pattern) {
    let rx = regexes.get(pattern);
    if (rx === undefined) {
      rx = translateJavaRegex(pattern);
      if (regexes.size >= 256) regexes.clear();
      regexes.set(pattern, rx);
    }
    return rx;
  }
  function translateJavaRegex(p) {
    let flags = "";
    let i = 0;
    const lead = /^\(\?([imsxu]+)\)/.exec(p);
    if (lead) {
      for (const f of lead[1]) if ("ims".includes(f) && !flags.includes(f)) flags += f;
      i = lead[0].length;
    }
    let out = "";
    let inClass = false;
    let unicode = false;
    while (i < p.length) {
      const c = p[i];
      if (c === "\\") {
        const n = p[i + 1];
        if (n === "Q") {
          const end = p.indexOf("\\E", i + 2);
          const lit = end < 0 ? p.slice(i + 2) : p.slice(i + 2, end);
          out += lit.replace(/[.*+?^${}()|[\]\\\/-]/g, "\\$&");
          i = end < 0 ? p.length : end + 2;
          continue;
        }
        if ((n === "p" || n === "P") && p[i + 2] === "{") {
          const end = p.indexOf("}", i);
          let name = p.slice(i + 3, end);
          if (name.startsWith("Is")) name = name.slice(2);
          const neg = n === "P";
          if (Object.hasOwn(POSIX, name)) {
            out += inClass ? POSIX[name] : (neg ? "[^" : "[") + POSIX[name] + "]";
          } else if (Object.hasOwn(UNICODE, name)) {
            out += "\\" + n + "{" + UNICODE[name] + "}";
            unicode = true;
          } else {
            throw new SyntaxError("unsupported character property \\" + n + "{" + name + "} in " + p);
          }
          i = end + 1;
          continue;
        }
        if (!inClass && n === "A") { out += "^"; i += 2; continue; }
        if (!inClass && n === "z") { out += "$"; i += 2; continue; }
        if (!inClass && n === "Z") { out += "(?=\\n?$)"; i += 2; continue; }
        out += c + (n ?? "");
        i += 2;
        continue;
      }
      if (inClass) {
        if (c === "]") inClass = false;
        out += c;
        i++;
        continue;
      }
      if (c === "[") {
        inClass = true;
        out += c;
        i++;
        if (p[i] === "^") { out += "^"; i++; }
        if (p[i] === "]") { out += "\\]"; i++; }
        continue;
      }
      if (c === "(" && p.startsWith("(?>", i)) { out += "(?:"; i += 3; continue; }
      const q = c === "*" || c === "+" || c === "?" ? c : c === "{" ? /^\{\d+(?:,\d*)?\}/.exec(p.slice(i))?.[0] : undefined;
      if (q !== undefined) {
        out += q;
        i += q.length;
        if (p[i] === "+") i++;
        else if (p[i] === "?") { out += "?"; i++; }
        continue;
      }
      out += c;
      i++;
    }
    if (unicode) flags += "u";
    try {
      return new RegExp("^(?:" + out + ")$", flags.includes("m") ? flags.replace("m", "") : flags);
    } catch (e) {
      throw new SyntaxError("invalid regular expression '" + p + "': " + e.message);
    }
  }

  // --- console --------------------------------------------------------------------------------
  function logArg(a) {
    if (typeof a === "string") return a;
    if (a instanceof Error) return a.name + ": " + a.message;
    if (typeof a === "function") return "[Function]";
    if (typeof a === "object" && a !== null) {
      try { return JSON.stringify(a); } catch (e) { return String(a); }
    }
    return String(a);
  }
  // A handler's log is bounded: a loop of console.log must not flood the server's log.
  const MAX_LOG_LINES = 1000, MAX_LOG_CHARS = 256 * 1024, MAX_LINE_CHARS = 16 * 1024;
  function logger(level) {
    return function (...args) {
      if (cur === null) return;
      const logs = (cur.logs ??= []);
      if (cur.logChars === undefined) { cur.logChars = 0; cur.logDropped = 0; }
      if (logs.length >= MAX_LOG_LINES || cur.logChars >= MAX_LOG_CHARS) { cur.logDropped++; return; }
      let line = level + " - " + args.map(logArg).join(" ");
      if (line.length > MAX_LINE_CHARS) line = line.slice(0, MAX_LINE_CHARS) + " … (line cut)";
      cur.logChars += line.length;
      logs.push(line);
    };
  }
  const console = Object.freeze({
    log: logger("INFO"), info: logger("INFO"), debug: logger("DEBUG"), trace: logger("DEBUG"),
    warn: logger("WARN"), error: logger("ERROR"),
  });

  // --- encoders ---------------------------------------------------------------------------------
  function hex4(code) { return code.toString(16).toUpperCase().padStart(4, "0"); }
  function escapeJavaScript(value) {
    // Apache commons-lang 2 StringEscapeUtils.escapeJavaScript, which AppSync's Java side uses.
    const s = String(value);
    let out = "";
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i);
      if (ch > 0x7f) out += "\\u" + hex4(ch);
      else if (ch < 32) {
        switch (ch) {
          case 8: out += "\\b"; break;
          case 9: out += "\\t"; break;
          case 10: out += "\\n"; break;
          case 12: out += "\\f"; break;
          case 13: out += "\\r"; break;
          default: out += "\\u" + hex4(ch);
        }
      } else {
        const c = s[i];
        if (c === "'" || c === '"' || c === "\\" || c === "/") out += "\\" + c;
        else out += c;
      }
    }
    return out;
  }
  function urlEncode(value) {
    // java.net.URLEncoder (application/x-www-form-urlencoded, UTF-8).
    return encodeURIComponent(String(value))
      .replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
      .replace(/%20/g, "+");
  }
  function urlDecode(value) {
    return decodeURIComponent(String(value).replace(/\+/g, " "));
  }

  // --- util.time ------------------------------------------------------------------------------
  function ms(v, what) {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new TypeError(what + ": not a number of milliseconds: " + text(v));
    return n;
  }
  const time = Object.freeze({
    nowISO8601: () => new Date().toISOString(),
    nowEpochSeconds: () => Math.floor(Date.now() / 1000),
    nowEpochMilliSeconds: () => Date.now(),
    nowFormatted: (fmt, tz) => javatime.format(Date.now(), fmt, tz ?? "UTC"),
    parseFormattedToEpochMilliSeconds: (ts, fmt, tz) =>
      javatime.parseToEpochMs(ts, fmt, tz ?? "UTC"),
    parseISO8601ToEpochMilliSeconds: (ts) => javatime.parseIso(ts),
    epochMilliSecondsToSeconds: (v) => Math.trunc(ms(v, "epochMilliSecondsToSeconds") / 1000),
    epochMilliSecondsToISO8601: (v) => new Date(ms(v, "epochMilliSecondsToISO8601")).toISOString(),
    epochMilliSecondsToFormatted: (v, fmt, tz) =>
      javatime.format(ms(v, "epochMilliSecondsToFormatted"), fmt, tz ?? "UTC"),
  });

  // --- util.dynamodb --------------------------------------------------------------------------
  class DdbSet {
    constructor(type, values) { this.type = type; this.values = values; }
  }
  function toDynamoDB(v) {
    if (v === null || v === undefined) return { NULL: null };
    if (v instanceof DdbSet) return { [v.type]: v.values };
    switch (typeof v) {
      case "string": return { S: v };
      case "number": return { N: v };
      case "boolean": return { BOOL: v };
      case "bigint": return { N: String(v) };
    }
    if (Array.isArray(v)) return { L: v.map(toDynamoDB) };
    if (typeof v === "object") return { M: toMapValues(v) };
    throw new TypeError("cannot convert a " + typeof v + " to a DynamoDB value");
  }
  function toMapValues(obj) {
    const out = {};
    if (obj === null || obj === undefined) return out;
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      if (v !== undefined && typeof v !== "function") out[k] = toDynamoDB(v);
    }
    return out;
  }
  const dynamodbUtil = Object.freeze({
    toDynamoDB,
    toString: (v) => ({ S: v }),
    toStringSet: (v) => ({ SS: v }),
    toNumber: (v) => ({ N: v }),
    toNumberSet: (v) => ({ NS: v }),
    toBinary: (v) => ({ B: v }),
    toBinarySet: (v) => ({ BS: v }),
    toBoolean: (v) => ({ BOOL: v }),
    toNull: () => ({ NULL: null }),
    toList: (v) => ({ L: v.map(toDynamoDB) }),
    toMap: (v) => ({ M: toMapValues(v) }),
    toMapValues,
    toS3Object: (key, bucket, region, version) => {
      const s3 = { key, bucket, region };
      if (version !== undefined) s3.version = version;
      return { S: JSON.stringify({ s3 }) };
    },
    fromS3ObjectJson: (s) => JSON.parse(s).s3,
  });

  // --- DynamoDB expressions (util.transform and @aws-appsync/utils/dynamodb) ------------------
  class Expr {
    constructor() { this.names = {}; this.values = {}; this.nameOf = new Map(); }
    name(field) {
      const f = String(field);
      const known = this.nameOf.get(f);
      if (known !== undefined) return known;
      const base = "#" + f.replace(/[^A-Za-z0-9_]/g, "_");
      let n = base;
      for (let i = 1; this.names[n] !== undefined; i++) n = base + "_" + i;
      this.names[n] = f;
      this.nameOf.set(f, n);
      return n;
    }
    value(base, v) {
      const b = ":" + String(base).replace(/[^A-Za-z0-9_]/g, "_");
      let n = b;
      for (let i = 1; this.values[n] !== undefined; i++) n = b + "_" + i;
      this.values[n] = toDynamoDB(v);
      return n;
    }
    result(expression) {
      const out = { expression };
      if (Object.keys(this.names).length) out.expressionNames = this.names;
      if (Object.keys(this.values).length) out.expressionValues = this.values;
      return out;
    }
  }
  const COMPARATORS = { eq: "=", ne: "<>", le: "<=", lt: "<", ge: ">=", gt: ">" };
  function fieldCondition(x, field, op, v) {
    const n = x.name(field);
    const base = field + "_" + op;
    if (Object.hasOwn(COMPARATORS, op)) return n + " " + COMPARATORS[op] + " " + x.value(base, v);
    switch (op) {
      case "contains": return "contains(" + n + "," + x.value(base, v) + ")";
      case "notContains": return "NOT contains(" + n + "," + x.value(base, v) + ")";
      case "beginsWith": return "begins_with(" + n + "," + x.value(base, v) + ")";
      case "between":
        if (!Array.isArray(v) || v.length !== 2) throw new TypeError("between needs a [low, high] array for " + field);
        return n + " BETWEEN " + x.value(base + "_0", v[0]) + " AND " + x.value(base + "_1", v[1]);
      case "in":
        if (!Array.isArray(v)) throw new TypeError("in needs an array for " + field);
        return n + " IN (" + v.map((e, i) => x.value(base + "_" + i, e)).join(",") + ")";
      case "attributeExists": return (v ? "attribute_exists(" : "attribute_not_exists(") + n + ")";
      case "attributeType": return "attribute_type(" + n + "," + x.value(base, v) + ")";
      case "size": {
        const parts = Object.keys(v).map((sop) => {
          if (!Object.hasOwn(COMPARATORS, sop)) throw new TypeError("unsupported size operator " + sop);
          return "size(" + n + ") " + COMPARATORS[sop] + " " + x.value(field + "_size_" + sop, v[sop]);
        });
        return parts.join(" AND ");
      }
    }
    throw new TypeError("unsupported filter operator '" + op + "' on " + field);
  }
  function conditionExpression(x, obj) {
    const parts = [];
    for (const k of Object.keys(obj ?? {})) {
      const v = obj[k];
      if (v === undefined) continue;
      if (k === "and" || k === "or") {
        const subs = (Array.isArray(v) ? v : [v]).map((o) => conditionExpression(x, o)).filter((s) => s);
        // one condition is not wrapped again: DynamoDB refuses "((a))" as redundant parentheses
        if (subs.length === 1) parts.push(subs[0]);
        else if (subs.length) parts.push("(" + subs.join(k === "and" ? " AND " : " OR ") + ")");
      } else if (k === "not") {
        const sub = Array.isArray(v)
          ? v.map((o) => conditionExpression(x, o)).filter((s) => s).join(" AND ")
          : conditionExpression(x, v);
        if (sub) parts.push("(NOT " + sub + ")");
      } else if (v !== null && typeof v === "object") {
        const conds = Object.keys(v).filter((op) => v[op] !== undefined).map((op) => fieldCondition(x, k, op, v[op]));
        if (conds.length) parts.push("(" + conds.join(" AND ") + ")");
      } else {
        parts.push("(" + fieldCondition(x, k, "eq", v) + ")");
      }
    }
    return parts.join(" AND ");
  }
  function expressionObject(obj) {
    if (obj === null || obj === undefined) return null;
    const x = new Expr();
    const e = conditionExpression(x, obj);
    return e ? x.result(e) : null;
  }
  function keyExpression(obj) {
    const x = new Expr();
    const parts = [];
    for (const k of Object.keys(obj ?? {})) {
      const v = obj[k];
      if (v === undefined) continue;
      if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        for (const op of Object.keys(v)) parts.push(fieldCondition(x, k, op, v[op]));
      } else {
        parts.push(fieldCondition(x, k, "eq", v));
      }
    }
    return x.result(parts.join(" AND "));
  }

  // --- subscription filters -----------------------------------------------------------------------
  function cross(a, b) {
    const out = [];
    for (const x of a) for (const y of b) out.push(x.concat(y));
    return out;
  }
  function dnf(obj, ignored) {
    let acc = [[]];
    for (const k of Object.keys(obj ?? {})) {
      const v = obj[k];
      if (v === undefined || ignored.has(k)) continue;
      let alts;
      if (k === "and") {
        alts = (Array.isArray(v) ? v : [v]).reduce((a, sub) => cross(a, dnf(sub, ignored)), [[]]);
      } else if (k === "or") {
        alts = (Array.isArray(v) ? v : [v]).flatMap((sub) => dnf(sub, ignored)).filter((c) => c.length > 0);
        if (alts.length === 0) continue;
      } else if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        alts = Object.keys(v).map((op) => [{ fieldName: k, operator: op, value: v[op] }]);
        if (alts.length === 0) continue;
      } else {
        alts = [[{ fieldName: k, operator: "eq", value: v }]];
      }
      acc = cross(acc, alts);
    }
    return acc;
  }
  function toSubscriptionFilter(obj, ignoredFields, rules) {
    const ignored = new Set(Array.isArray(ignoredFields) ? ignoredFields : []);
    let groups = dnf(obj, ignored);
    if (rules !== null && rules !== undefined) {
      const ruleFilters = [];
      for (const k of Object.keys(rules)) {
        const r = rules[k];
        for (const op of Object.keys(r ?? {})) ruleFilters.push({ fieldName: k, operator: op, value: r[op] });
      }
      if (ruleFilters.length) groups = cross(groups, ruleFilters.map((f) => [f]));
    }
    return { filterGroup: groups.map((filters) => ({ filters })) };
  }

  // --- the util object ------------------------------------------------------------------------
  const AUTH_TYPES = {
    API_KEY: "API Key Authorization",
    AWS_IAM: "IAM Authorization",
    AMAZON_COGNITO_USER_POOLS: "User Pool Authorization",
    OPENID_CONNECT: "Open ID Connect Authorization",
    AWS_LAMBDA: "Lambda Authorization",
  };
  const RESTRICTED_HEADER = /^(x-amzn?-|host$|content-length$|connection$|keep-alive$|proxy-|te$|trailer$|transfer-encoding$|upgrade$|expect$)/i;
  function headerValue(v) {
    return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
  }
  function addResponseHeader(name, value) {
    const s = state();
    const n = String(name);
    if (RESTRICTED_HEADER.test(n)) {
      (s.logs ??= []).push("WARN - util.http.addResponseHeader: header '" + n + "' is restricted and was not added");
      return;
    }
    (s.headers ??= {})[n] = headerValue(value);
  }
  function isNull(v) { return v === null || v === undefined; }
  function isNullOrEmpty(v) {
    if (isNull(v)) return true;
    if (typeof v === "string" || Array.isArray(v)) return v.length === 0;
    if (typeof v === "object") return Object.keys(v).length === 0;
    return false;
  }
  function isNullOrBlank(v) {
    return isNull(v) || (typeof v === "string" && v.trim().length === 0) || (typeof v !== "string" && isNullOrEmpty(v));
  }
  function typeOf(v) {
    if (isNull(v)) return "Null";
    if (Array.isArray(v)) return "List";
    switch (typeof v) {
      case "string": return "String";
      case "number": case "bigint": return "Number";
      case "boolean": return "Boolean";
      case "object": return "Map";
    }
    return "Object";
  }
  function errorOut(kind, message, errorType, data, errorInfo) {
    return { s: kind, m: text(message), t: opt(errorType), d: opt(data), i: opt(errorInfo) };
  }

  const util = {
    error(message, errorType, data, errorInfo) {
      throw new Signal(errorOut("error", message, errorType, data, errorInfo));
    },
    appendError(message, errorType, data, errorInfo) {
      const s = state();
      const e = errorOut("error", message, errorType, data, errorInfo);
      delete e.s;
      (s.errors ??= []).push(e);
    },
    unauthorized() {
      const info = state().info ?? {};
      throw new Signal({
        s: "unauthorized",
        m: "Not Authorized to access " + info.fieldName + " on type " + info.parentTypeName,
        t: "Unauthorized", d: null, i: null,
      });
    },
    autoId,
    autoUlid,
    autoKsuid,
    matches: (pattern, value) => javaRegex(String(pattern)).test(String(value)),
    authType: () => {
      const t = state().authType;
      return t === undefined || t === null ? null : (Object.hasOwn(AUTH_TYPES, t) ? AUTH_TYPES[t] : String(t));
    },
    escapeJavaScript,
    urlEncode,
    urlDecode,
    base64Encode: (v) => base64Encode(utf8Encode(String(v))),
    base64Decode: (v) => utf8Decode(base64Decode(String(v))),
    toJson: (v) => (v === undefined ? "null" : JSON.stringify(v)),
    parseJson: (s) => JSON.parse(s),
    isNull,
    isNullOrEmpty,
    isNullOrBlank,
    defaultIfNull: (v, d) => (isNull(v) ? d : v),
    defaultIfNullOrEmpty: (v, d) => (isNullOrEmpty(v) ? d : v),
    defaultIfNullOrBlank: (v, d) => (isNullOrBlank(v) ? d : v),
    isString: (v) => typeof v === "string",
    isNumber: (v) => typeof v === "number",
    isBoolean: (v) => typeof v === "boolean",
    isList: (v) => Array.isArray(v),
    isMap: (v) => v !== null && typeof v === "object" && !Array.isArray(v),
    typeOf,
    time,
    dynamodb: dynamodbUtil,
    transform: Object.freeze({
      toDynamoDBFilterExpression: (obj) => JSON.stringify(expressionObject(obj)),
      toDynamoDBConditionExpression: (obj) => JSON.stringify(expressionObject(obj)),
      toSubscriptionFilter,
      toElasticsearchQueryDSL: () => { throw new Error("util.transform.toElasticsearchQueryDSL is not supported by the emulator"); },
    }),
    http: Object.freeze({
      copyHeaders(headers) {
        const out = {};
        for (const k of Object.keys(headers ?? {})) if (!RESTRICTED_HEADER.test(k)) out[k] = headers[k];
        return out;
      },
      addResponseHeader,
      addResponseHeaders(map) {
        for (const k of Object.keys(map ?? {})) addResponseHeader(k, map[k]);
      },
    }),
    math: Object.freeze({
      roundNum: (v) => Math.round(v),
      minVal: (a, b) => Math.min(a, b),
      maxVal: (a, b) => Math.max(a, b),
      randomDouble: () => Math.random(),
      randomWithinRange: (lo, hi) => Math.floor(Math.random() * (hi - lo + 1)) + lo,
    }),
    str: Object.freeze({
      normalize: (v, form) => String(v).normalize(String(form ?? "nfc").toUpperCase()),
    }),
    xml: Object.freeze({
      toMap: (xml) => JSON.parse(hostValue("xml", String(xml))),
      toJsonString: (xml, stringEncode) => {
        const s = hostValue("xml", String(xml));
        return stringEncode ? JSON.stringify(s) : s;
      },
    }),
    rds: Object.freeze({
      toJsonObject: () => { throw new Error("util.rds is not supported by the emulator"); },
      toJsonString: () => { throw new Error("util.rds is not supported by the emulator"); },
    }),
  };
  Object.freeze(util);

  const runtime = Object.freeze({
    earlyReturn(obj, options) {
      const skipTo = options?.skipTo ?? "END";
      if (skipTo !== "END" && skipTo !== "NEXT") {
        throw new TypeError("runtime.earlyReturn: skipTo must be 'END' or 'NEXT', not " + text(skipTo));
      }
      throw new Signal({ s: "earlyReturn", v: obj === undefined ? null : obj, k: skipTo });
    },
  });

  const extensions = Object.freeze({
    setSubscriptionFilter(filter) { state().sf = filter; },
    setSubscriptionInvalidationFilter(filter) { state().inf = filter; },
    invalidateSubscriptions(obj) { (state().inv ??= []).push(obj); },
    evictFromApiCache(typeName, fieldName, keys) {
      (state().logs ??= []).push(
        "INFO - extensions.evictFromApiCache(" + text(typeName) + ", " + text(fieldName) + ", " + text(keys) +
        ") ignored: the emulator has no API cache");
    },
  });

  // --- @aws-appsync/utils/dynamodb ---------------------------------------------------------------
  class DdbOp {
    constructor(type, value, index) { this.type = type; this.value = value; this.index = index; }
  }
  function projection(p) {
    if (p === undefined || p === null) return undefined;
    if (!Array.isArray(p)) return p;
    const names = {};
    const expr = p.map((f, i) => {
      names["#projection" + i] = f;
      return "#projection" + i;
    });
    return { expression: expr.join(", "), expressionNames: names };
  }
  function assign(out, fields) {
    for (const k of Object.keys(fields)) if (fields[k] !== undefined) out[k] = fields[k];
    return out;
  }
  function updateExpression(update) {
    const x = new Expr();
    const set = [];
    const remove = [];
    const add = [];
    const del = [];
    for (const k of Object.keys(update ?? {})) {
      const v = update[k];
      if (v === undefined) continue;
      const n = x.name(k);
      if (!(v instanceof DdbOp)) {
        set.push(n + " = " + x.value(k, v));
        continue;
      }
      switch (v.type) {
        case "replace": set.push(n + " = " + x.value(k, v.value)); break;
        case "remove": remove.push(n); break;
        case "increment": set.push(n + " = " + n + " + " + x.value(k, v.value)); break;
        case "decrement": set.push(n + " = " + n + " - " + x.value(k, v.value)); break;
        case "append": set.push(n + " = list_append(" + n + ", " + x.value(k, v.value) + ")"); break;
        case "prepend": set.push(n + " = list_append(" + x.value(k, v.value) + ", " + n + ")"); break;
        case "add": add.push(n + " " + x.value(k, v.value)); break;
        case "delete": del.push(n + " " + x.value(k, v.value)); break;
        case "updateListItem": set.push(n + "[" + Number(v.index) + "] = " + x.value(k + "_" + v.index, v.value)); break;
      }
    }
    const parts = [];
    if (set.length) parts.push("SET " + set.join(", "));
    if (add.length) parts.push("ADD " + add.join(", "));
    if (remove.length) parts.push("REMOVE " + remove.join(", "));
    if (del.length) parts.push("DELETE " + del.join(", "));
    return x.result(parts.join(" "));
  }
  const ddb = Object.freeze({
    get: (p) => assign({ operation: "GetItem", key: toMapValues(p.key) },
      { consistentRead: p.consistentRead, projection: projection(p.projection) }),
    put: (p) => assign({ operation: "PutItem", key: toMapValues(p.key), attributeValues: toMapValues(p.item) },
      { condition: expressionObject(p.condition) ?? undefined, customPartitionKey: p.customPartitionKey,
        populateIndexFields: p.populateIndexFields, _version: p._version }),
    remove: (p) => assign({ operation: "DeleteItem", key: toMapValues(p.key) },
      { condition: expressionObject(p.condition) ?? undefined, customPartitionKey: p.customPartitionKey,
        populateIndexFields: p.populateIndexFields, _version: p._version }),
    update: (p) => assign({ operation: "UpdateItem", key: toMapValues(p.key), update: updateExpression(p.update) },
      { condition: expressionObject(p.condition) ?? undefined, customPartitionKey: p.customPartitionKey,
        populateIndexFields: p.populateIndexFields, _version: p._version }),
    query: (p) => assign({ operation: "Query", query: keyExpression(p.query) },
      { filter: expressionObject(p.filter) ?? undefined, index: p.index, nextToken: p.nextToken, limit: p.limit,
        scanIndexForward: p.scanIndexForward, consistentRead: p.consistentRead, select: p.select,
        projection: projection(p.projection) }),
    scan: (p) => assign({ operation: "Scan" },
      { filter: expressionObject(p?.filter) ?? undefined, index: p?.index, nextToken: p?.nextToken, limit: p?.limit,
        consistentRead: p?.consistentRead, segment: p?.segment, totalSegments: p?.totalSegments,
        select: p?.select, projection: projection(p?.projection) }),
    sync: (p) => assign({ operation: "Sync" },
      { basePartitionKey: p?.basePartitionKey, deltaIndexName: p?.deltaIndexName, limit: p?.limit,
        nextToken: p?.nextToken, lastSync: p?.lastSync, filter: expressionObject(p?.filter) ?? undefined }),
    batchGet: (p) => {
      const tables = {};
      for (const t of Object.keys(p.tables)) {
        const spec = p.tables[t];
        const keys = Array.isArray(spec) ? spec : spec.keys;
        tables[t] = assign({ keys: keys.map(toMapValues) },
          Array.isArray(spec) ? {} : { consistentRead: spec.consistentRead, projection: projection(spec.projection) });
      }
      return { operation: "BatchGetItem", tables };
    },
    batchPut: (p) => {
      const tables = {};
      for (const t of Object.keys(p.tables)) tables[t] = p.tables[t].map(toMapValues);
      return { operation: "BatchPutItem", tables };
    },
    batchDelete: (p) => {
      const tables = {};
      for (const t of Object.keys(p.tables)) tables[t] = p.tables[t].map(toMapValues);
      return { operation: "BatchDeleteItem", tables };
    },
    transactGet: (p) => ({
      operation: "TransactGetItems",
      transactItems: p.items.map((it) => assign({ table: it.table, key: toMapValues(it.key) },
        { projection: projection(it.projection) })),
    }),
    transactWrite: (p) => ({
      operation: "TransactWriteItems",
      transactItems: p.items.map((it) => {
        if (it.putItem) {
          const q = it.putItem;
          return assign({ table: q.table, operation: "PutItem", key: toMapValues(q.key), attributeValues: toMapValues(q.item) },
            { condition: expressionObject(q.condition) ?? undefined });
        }
        if (it.updateItem) {
          const q = it.updateItem;
          return assign({ table: q.table, operation: "UpdateItem", key: toMapValues(q.key), update: updateExpression(q.update) },
            { condition: expressionObject(q.condition) ?? undefined });
        }
        if (it.removeItem) {
          const q = it.removeItem;
          return assign({ table: q.table, operation: "DeleteItem", key: toMapValues(q.key) },
            { condition: expressionObject(q.condition) ?? undefined });
        }
        if (it.conditionCheck) {
          const q = it.conditionCheck;
          return { table: q.table, operation: "ConditionCheck", key: toMapValues(q.key),
            condition: expressionObject(q.condition) };
        }
        throw new TypeError("transactWrite: each item needs putItem, updateItem, removeItem or conditionCheck");
      }),
    }),
    toStringSet: (v) => new DdbSet("SS", v),
    toNumberSet: (v) => new DdbSet("NS", v),
    toBinarySet: (v) => new DdbSet("BS", v),
    operations: Object.freeze({
      add: (v) => new DdbOp("add", v),
      remove: () => new DdbOp("remove"),
      replace: (v) => new DdbOp("replace", v),
      increment: (v) => new DdbOp("increment", v),
      decrement: (v) => new DdbOp("decrement", v),
      append: (v) => new DdbOp("append", v),
      prepend: (v) => new DdbOp("prepend", v),
      updateListItem: (v, index) => new DdbOp("updateListItem", v, index),
    }),
  });

  // --- @aws-appsync/utils/ai and /rds ------------------------------------------------------------
  const ai = Object.freeze({
    invokeModel: (payload) => ({ operation: "InvokeModel", ...payload }),
    converse: (payload) => ({ operation: "Converse", ...payload }),
  });
  function rdsUnsupported(name) {
    return () => { throw new Error("@aws-appsync/utils/rds " + name + " is not supported by the emulator"); };
  }
  const rds = Object.freeze(Object.fromEntries(
    ["select", "insert", "update", "remove", "createPgStatement", "createMySQLStatement", "sql", "toJsonObject",
     "typeHint", "agg"].map((n) => [n, rdsUnsupported(n)])));

  const MODULES = Object.freeze({
    "@aws-appsync/utils": Object.freeze({ util, runtime, extensions }),
    "@aws-appsync/utils/dynamodb": ddb,
    "@aws-appsync/utils/rds": rds,
    "@aws-appsync/utils/ai": ai,
  });
  function require(spec) {
    const m = MODULES[spec];
    if (m === undefined) throw new Error("module not found: " + spec + " (bundle your dependencies)");
    return m;
  }

  // --- entry points -------------------------------------------------------------------------------
  // A module is instantiated afresh for every handler call: nothing its top level or a handler
  // keeps in module scope outlives the call. `define` instantiates once to report load errors.
  const factories = Object.create(null);
  function define(id, factory) {
    factory(require);
    factories[id] = factory;
  }
  function describeThrown(e) {
    if (e === null) return { s: "runtimeError", oom: true, name: "InternalError", message: "out of memory", stack: "" };
    if (e instanceof Error) {
      const oom = e.name === "InternalError" && /out of memory|too long/.test(e.message);
      return { s: "runtimeError", oom, name: e.name, message: e.message, stack: String(e.stack ?? "") };
    }
    return { s: "runtimeError", name: "Error", message: "Uncaught " + (typeof e === "string" ? JSON.stringify(e) : text(e)), stack: "" };
  }
  function invoke(id, handler, ctxJson) {
    const factory = factories[id];
    let mod;
    try {
      mod = factory === undefined ? undefined : factory(require);
    } catch (e) {
      return stringify(describeThrown(e));
    }
    const fn = mod === undefined ? undefined : mod[handler];
    if (typeof fn !== "function") {
      return stringify({
        s: "runtimeError", name: "TypeError", missing: true, stack: "",
        message: mod === undefined ? "unknown module " + id : "the module does not export a function named " + handler,
      });
    }
    const ctx = parse(ctxJson);
    const authType = ctx.__authType;
    if (authType !== undefined) delete ctx.__authType;
    let args = ctx.arguments;
    if (args === undefined || args === null) args = ctx.args ?? {};
    ctx.arguments = args;
    ctx.args = args;
    if (ctx.stash === undefined || ctx.stash === null) ctx.stash = {};
    const s = { info: ctx.info, authType, errors: null, logs: null, headers: null, sf: undefined, inf: undefined, inv: null };
    cur = s;
    let out;
    try {
      out = { s: "ok", v: fn(ctx) };
    } catch (e) {
      out = e instanceof Signal ? e.out : describeThrown(e);
    }
    cur = null;
    if (out.s === "host") return stringify(out);
    out.stash = ctx.stash;
    out.args = ctx.args;
    if (s.errors !== null) out.errors = s.errors;
    if (s.logDropped) s.logs.push("WARN - " + s.logDropped + " more console lines of this call were dropped");
    if (s.logs !== null) out.logs = s.logs;
    if (s.headers !== null) out.headers = s.headers;
    if (s.sf !== undefined) out.sf = s.sf;
    if (s.inf !== undefined) out.inf = s.inf;
    if (s.inv !== null) out.inv = s.inv;
    try {
      return stringify(out);
    } catch (e) {
      if (e === null) throw e;
      return stringify({
        s: "runtimeError", name: e.name, stack: "", logs: s.logs ?? undefined,
        message: "the handler's result, stash or arguments cannot be converted to JSON: " + e.message,
      });
    }
  }

  // VTL's `$util` forwards its stateless helpers here (runtimes/vtl/util_bridge.py): `path` names
  // a function of `util` ("time.nowFormatted"), `argsJson` is its arguments as a JSON array. The
  // answer is JSON, like `invoke`'s: {s: "ok", v}, {s: "host", kind, arg} or {s: "runtimeError", …}.
  function callUtil(path, argsJson) {
    let fn = util;
    for (const k of String(path).split(".")) {
      fn = fn !== null && typeof fn === "object" && Object.hasOwn(fn, k) ? fn[k] : undefined;
    }
    if (typeof fn !== "function") {
      return stringify({ s: "runtimeError", name: "TypeError", message: "util." + path + " is not a function" });
    }
    cur = { info: null, authType: undefined, errors: null, logs: null, headers: null, sf: undefined, inf: undefined, inv: null };
    let out;
    try {
      const v = fn(...parse(argsJson));
      out = { s: "ok", v: v === undefined ? null : v };
    } catch (e) {
      out = e instanceof Signal ? e.out : describeThrown(e);
    }
    cur = null;
    try {
      return stringify(out);
    } catch (e) {
      if (e === null) throw e;
      return stringify({ s: "runtimeError", name: e.name, message: e.message });
    }
  }

  const hidden = { configurable: false, enumerable: false, writable: false };
  Object.defineProperty(g, "__define", { ...hidden, value: define });
  Object.defineProperty(g, "__invoke", { ...hidden, value: invoke });
  Object.defineProperty(g, "__provide", { ...hidden, value: provide });
  Object.defineProperty(g, "__callUtil", { ...hidden, value: callUtil });
  Object.defineProperty(g, "util", { ...hidden, value: util });
  Object.defineProperty(g, "runtime", { ...hidden, value: runtime });
  Object.defineProperty(g, "extensions", { ...hidden, value: extensions });
  Object.defineProperty(g, "console", { ...hidden, value: console });
  lockdown(g);

  // --- lockdown: one request cannot change what the next one sees ------------------------------
  // Every object reachable from the global object (the built-ins, their prototypes, JSON, the
  // util library, the entry points) is frozen, and so is the global object. A handler that
  // assigns to one of them (a prototype-pollution merge, `JSON.stringify = …`) gets a TypeError
  // in its own call; later calls never see the change. Assigning `toString`, `name`, `message`…
  // to one's own objects must keep working although the prototype's property is frozen (the
  // "override mistake"), so those properties become accessors that define an own property.
  function lockdown(root) {
    const seen = new Set();
    const todo = [root];
    while (todo.length > 0) {
      const o = todo.pop();
      if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) continue;
      seen.add(o);
      for (const key of Reflect.ownKeys(o)) {
        const d = Object.getOwnPropertyDescriptor(o, key);
        if (d === undefined) continue;
        if ("value" in d) todo.push(d.value);
        else todo.push(d.get, d.set);
      }
      todo.push(Object.getPrototypeOf(o));
    }
    for (const o of seen) {
      if (typeof o === "object") for (const key of OVERRIDABLE) tameOverride(o, key);
    }
    for (const o of seen) Object.freeze(o);
  }
  function tameOverride(obj, key) {
    const d = Object.getOwnPropertyDescriptor(obj, key);
    if (d === undefined || !("value" in d) || !d.configurable) return;
    const value = d.value;
    Object.defineProperty(obj, key, {
      get() { return value; },
      set(v) {
        if (this === obj) throw new TypeError("cannot assign to read only property '" + String(key) + "' of a built-in");
        Object.defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
      },
      enumerable: d.enumerable,
      configurable: false,
    });
  }
})(globalThis);
