// Java DateTimeFormatter patterns (English locale) for util.time.*Formatted*, in JS because the
// quickjs binding cannot call Python while a CPU time limit is set. Letters supported:
// G u y D M L d Q q E a h K k H m s S A n N V z O X x Z, 'quoted' literals and [optional]
// sections. Zone ids: UTC/Z/GMT, fixed offsets (+08:00, GMT+8) and IANA names, whose rules come
// from Python through `zoneRules(name)` -> {t: [utc ms], o: [offset s], a: [abbreviation]}.
"use strict";
globalThis.__javatime = function (zoneRules) {
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December"];
  const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  const QUARTERS = ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"];
  const SUPPORTED = "GuyDMLdQqEahKkHmsSAnNVzOXxZ";
  const OFFSET = /^(?:UTC|GMT|UT)?([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?$/;
  const DAY_MS = 86400000;

  // --- patterns -------------------------------------------------------------------------------
  const compiled = new Map();
  function compile(pattern) {
    let items = compiled.get(pattern);
    if (items === undefined) {
      const r = parse(pattern, 0, false);
      items = r.items;
      if (compiled.size > 256) compiled.clear();
      compiled.set(pattern, items);
    }
    return items;
  }
  function parse(p, i, nested) {
    const items = [];
    while (i < p.length) {
      const c = p[i];
      if (c === "'") {
        let j = i + 1;
        let lit = "";
        for (;;) {
          if (j >= p.length) throw new Error("pattern '" + p + "': unterminated quote");
          if (p[j] === "'") {
            if (p[j + 1] === "'") { lit += "'"; j += 2; continue; }
            break;
          }
          lit += p[j++];
        }
        items.push(j > i + 1 ? lit : "'");
        i = j + 1;
      } else if (c === "[") {
        const r = parse(p, i + 1, true);
        items.push({ optional: r.items });
        i = r.end;
      } else if (c === "]") {
        if (!nested) throw new Error("pattern '" + p + "': unbalanced ']'");
        return { items, end: i + 1 };
      } else if ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z")) {
        let j = i;
        while (j < p.length && p[j] === c) j++;
        if (!SUPPORTED.includes(c)) {
          throw new Error("pattern '" + p + "': pattern letter '" + c + "' is not supported by the emulator");
        }
        items.push({ letter: c, count: j - i });
        i = j;
      } else if (c === "#" || c === "{" || c === "}") {
        throw new Error("pattern '" + p + "': reserved character '" + c + "'");
      } else {
        items.push(c);
        i++;
      }
    }
    if (nested) throw new Error("pattern '" + p + "': missing ']'");
    return { items, end: i };
  }

  // --- zones ----------------------------------------------------------------------------------
  function zone(tz) {
    const t = String(tz).trim();
    if (t === "UTC" || t === "Z" || t === "GMT" || t === "UT" || t === "Etc/UTC") return { id: t, fixed: 0 };
    const m = OFFSET.exec(t);
    if (m) {
      const secs = (Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0)) * (m[1] === "-" ? -1 : 1);
      return { id: t, fixed: secs * 1000 };
    }
    const rules = zoneRules(t);
    return { id: t, rules };
  }
  function ruleIndex(rules, utcMs) {
    const t = rules.t;
    let lo = 0;
    let hi = t.length - 1;
    if (hi < 0 || utcMs < t[0]) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (t[mid] <= utcMs) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
  function offsetAt(z, utcMs) {
    if (z.fixed !== undefined) return z.fixed;
    const i = ruleIndex(z.rules, utcMs);
    return (i < 0 ? z.rules.first : z.rules.o[i]) * 1000;
  }
  function abbreviationAt(z, utcMs) {
    if (z.fixed !== undefined) return z.fixed === 0 ? (z.id === "Z" ? "Z" : z.id) : z.id;
    const i = ruleIndex(z.rules, utcMs);
    return i < 0 ? z.rules.firstAbbr : z.rules.a[i];
  }
  function localToUtc(z, localMs) {
    const guess = localMs - offsetAt(z, localMs);
    const off = offsetAt(z, guess);
    const utc = localMs - off;
    const off2 = offsetAt(z, utc);
    return off2 === off ? utc : localMs - off2;
  }

  // --- fields of an instant -------------------------------------------------------------------
  function fields(utcMs, z) {
    const off = offsetAt(z, utcMs);
    const d = new Date(utcMs + off);
    const year = d.getUTCFullYear();
    const start = Date.UTC(year, 0, 1);
    return {
      year, month: d.getUTCMonth() + 1, day: d.getUTCDate(),
      doy: Math.floor((d.getTime() - start) / DAY_MS) + 1,
      dow: (d.getUTCDay() + 6) % 7,
      hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(),
      milli: d.getUTCMilliseconds(), offset: off, utcMs, zone: z,
    };
  }
  function num(v, count) {
    const s = String(Math.abs(v)).padStart(count, "0");
    return v < 0 ? "-" + s : s;
  }
  function two(v) { return String(v).padStart(2, "0"); }
  function textStyle(full, count) {
    if (count <= 3) return full.slice(0, 3);
    if (count === 4) return full;
    return full[0];
  }
  function offsetText(offMs, letter, count) {
    let secs = Math.round(offMs / 1000);
    if (secs === 0 && letter === "X") return "Z";
    const sign = secs < 0 ? "-" : "+";
    secs = Math.abs(secs);
    const h = Math.floor(secs / 3600);
    const m = Math.floor((secs % 3600) / 60);
    const s = secs % 60;
    switch (count) {
      case 1: return sign + two(h) + (m ? two(m) : "");
      case 2: return sign + two(h) + two(m);
      case 3: return sign + two(h) + ":" + two(m);
      case 4: return sign + two(h) + two(m) + (s ? two(s) : "");
      default: return sign + two(h) + ":" + two(m) + (s ? ":" + two(s) : "");
    }
  }
  function gmtText(offMs, full) {
    let secs = Math.round(offMs / 1000);
    if (secs === 0) return "GMT";
    const sign = secs < 0 ? "-" : "+";
    secs = Math.abs(secs);
    const h = Math.floor(secs / 3600);
    const m = Math.floor((secs % 3600) / 60);
    if (full) return "GMT" + sign + two(h) + ":" + two(m);
    return "GMT" + sign + h + (m ? ":" + two(m) : "");
  }
  function formatField(f, letter, n) {
    switch (letter) {
      case "y": case "u": return n === 2 ? two(f.year % 100) : num(f.year, n);
      case "M": case "L": return n <= 2 ? num(f.month, n) : textStyle(MONTHS[f.month - 1], n);
      case "d": return num(f.day, n);
      case "D": return num(f.doy, n);
      case "Q": case "q": {
        const q = Math.floor((f.month - 1) / 3) + 1;
        return n <= 2 ? num(q, n) : n === 3 ? "Q" + q : QUARTERS[q - 1];
      }
      case "E": return textStyle(DAYS[f.dow], n);
      case "G": return n <= 3 ? "AD" : n === 4 ? "Anno Domini" : "A";
      case "a": return f.hour < 12 ? "AM" : "PM";
      case "H": return num(f.hour, n);
      case "k": return num(f.hour || 24, n);
      case "h": return num(f.hour % 12 || 12, n);
      case "K": return num(f.hour % 12, n);
      case "m": return num(f.minute, n);
      case "s": return num(f.second, n);
      case "S": return (String(f.milli).padStart(3, "0") + "000000").padEnd(n, "0").slice(0, n);
      case "A": return num(((f.hour * 60 + f.minute) * 60 + f.second) * 1000 + f.milli, n);
      case "n": return num(f.milli * 1000000, n);
      case "N": return num((((f.hour * 60 + f.minute) * 60 + f.second) * 1000 + f.milli) * 1000000, n);
      case "V": return f.zone.id;
      case "z": return n <= 3 ? abbreviationAt(f.zone, f.utcMs) : f.zone.id;
      case "O": return gmtText(f.offset, n === 4);
      case "X": return offsetText(f.offset, "X", n);
      case "x": return offsetText(f.offset, "x", n);
      case "Z": return n <= 3 ? offsetText(f.offset, "x", 2) : n === 4 ? gmtText(f.offset, true) : offsetText(f.offset, "X", 5);
    }
    throw new Error("pattern letter '" + letter + "' is not supported");
  }
  function formatItems(items, f) {
    let out = "";
    for (const it of items) {
      if (typeof it === "string") out += it;
      else if (it.optional !== undefined) out += formatItems(it.optional, f);
      else out += formatField(f, it.letter, it.count);
    }
    return out;
  }
  function format(epochMs, pattern, tz) {
    const items = compile(String(pattern));
    return formatItems(items, fields(epochMs, zone(tz)));
  }

  // --- parsing --------------------------------------------------------------------------------
  function escapeRegex(s) { return s.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&"); }
  function fieldRegex(letter, n) {
    switch (letter) {
      case "y": case "u": return n === 2 ? "\\d{2}" : n >= 4 ? "[+-]?\\d{" + n + ",10}" : "[+-]?\\d{1,10}";
      case "M": case "L":
        if (n === 1) return "\\d{1,2}";
        if (n === 2) return "\\d{2}";
        return n === 3 ? MONTHS.map((m) => m.slice(0, 3)).join("|") : n === 4 ? MONTHS.join("|") : "[A-Z]";
      case "E": return n <= 3 ? DAYS.map((d) => d.slice(0, 3)).join("|") : n === 4 ? DAYS.join("|") : "[A-Z]";
      case "G": return "AD|BC|Anno Domini|Before Christ|A|B";
      case "a": return "AM|PM|am|pm";
      case "S": return "\\d{" + n + "}";
      case "Q": case "q":
        if (n >= 3) return n === 3 ? "Q[1-4]" : QUARTERS.join("|");
        return n === 1 ? "\\d{1,2}" : "\\d{" + n + "}";
      case "d": case "D": case "H": case "k": case "h": case "K": case "m": case "s":
        return n === 1 ? "\\d{1," + (letter === "D" ? 3 : 2) + "}" : "\\d{" + n + "}";
      case "A": case "n": case "N": return "\\d+";
      case "V": return "[A-Za-z][A-Za-z0-9_+\\-/]*|Z";
      case "z": return "[A-Za-z][A-Za-z0-9_+\\-/]*";
      case "O": return "GMT(?:[+-]\\d{1,2}(?::\\d{2})?)?";
      case "X": case "x": case "Z": return "Z|GMT(?:[+-]\\d{1,2}(?::\\d{2})?)?|[+-]\\d{2}(?::?\\d{2})?(?::?\\d{2})?";
    }
    throw new Error("pattern letter '" + letter + "' is not supported");
  }
  function regexItems(items, groups) {
    let out = "";
    for (const it of items) {
      if (typeof it === "string") out += escapeRegex(it);
      else if (it.optional !== undefined) out += "(?:" + regexItems(it.optional, groups) + ")?";
      else {
        groups.push(it);
        out += "(" + fieldRegex(it.letter, it.count) + ")";
      }
    }
    return out;
  }
  const parsers = new Map();
  function parser(pattern) {
    let p = parsers.get(pattern);
    if (p === undefined) {
      const groups = [];
      const rx = new RegExp("^(?:" + regexItems(compile(pattern), groups) + ")$");
      p = { rx, groups };
      if (parsers.size > 256) parsers.clear();
      parsers.set(pattern, p);
    }
    return p;
  }
  function monthNumber(v) {
    const i = MONTHS.findIndex((m) => m === v || m.slice(0, 3) === v);
    if (i < 0) throw new Error("unknown month name '" + v + "'");
    return i + 1;
  }
  function parseToEpochMs(text, pattern, tz) {
    const s = String(text);
    const { rx, groups } = parser(String(pattern));
    const m = rx.exec(s);
    if (m === null) throw new Error("Text '" + s + "' could not be parsed with pattern '" + pattern + "'");
    let year = 1970, month = 1, day = 1, doy = null, hour = null, hour12 = null, pm = null;
    let minute = 0, second = 0, milli = 0, z = null;
    groups.forEach((g, i) => {
      const v = m[i + 1];
      if (v === undefined) return;
      const n = g.count;
      switch (g.letter) {
        case "y": case "u": year = n === 2 ? 2000 + Number(v) : Number(v); break;
        case "M": case "L": month = n <= 2 ? Number(v) : monthNumber(v); break;
        case "d": day = Number(v); break;
        case "D": doy = Number(v); break;
        case "H": case "k": hour = Number(v) % 24; break;
        case "h": case "K": hour12 = Number(v) % 12; break;
        case "a": pm = v.toUpperCase() === "PM"; break;
        case "m": minute = Number(v); break;
        case "s": second = Number(v); break;
        case "S": milli = Number(v.padEnd(3, "0").slice(0, 3)); break;
        case "n": milli = Math.floor(Number(v) / 1000000); break;
        case "V": case "z": case "O": case "X": case "x": case "Z": z = zone(v === "Z" ? "UTC" : v); break;
      }
    });
    if (hour === null) hour = (hour12 ?? 0) + (pm ? 12 : 0);
    if (month < 1 || month > 12 || day < 1 || day > 31 || minute > 59 || second > 59) {
      throw new Error("Text '" + s + "' could not be parsed: a field is out of range");
    }
    const local = doy !== null
      ? Date.UTC(year, 0, 1, hour, minute, second, milli) + (doy - 1) * DAY_MS
      : Date.UTC(year, month - 1, day, hour, minute, second, milli);
    if (doy === null && new Date(local).getUTCDate() !== day) {
      throw new Error("Text '" + s + "' could not be parsed: invalid date");
    }
    return localToUtc(z ?? zone(tz), local);
  }
  function parseIso(text) {
    const s = String(text).trim();
    const m = /^([+-]?\d{4,9})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?(?::?\d{2})?)?(?:\[[^\]]+\])?$/.exec(s);
    if (m === null) throw new Error("Text '" + s + "' could not be parsed as an ISO 8601 timestamp");
    const milli = m[7] ? Number(m[7].padEnd(3, "0").slice(0, 3)) : 0;
    const local = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0),
                           Number(m[6] ?? 0), milli);
    if (Number.isNaN(local)) throw new Error("Text '" + s + "' could not be parsed as an ISO 8601 timestamp");
    const off = m[8] === undefined || m[8] === "Z" || m[8] === "z" ? 0 : zone(m[8]).fixed;
    return local - off;
  }
  return { format, parseToEpochMs, parseIso };
};
