"""Warnings for code that quickjs runs but AppSync rejects when the resolver is deployed.

A cheap check on the token stream for the most common offenders of the
`@aws-appsync/eslint-plugin` `base` rules (docs/APPSYNC.md §10.2): try/catch, throw,
classes, async/await/Promise, generators, while/do, classic `for(;;)`, continue, `++`/`--`/`~`,
regex literals, `this`, `instanceof`, the `in` operator, and `util.*` helpers that exist only in
VTL. They are warnings only: the emulator still runs the code.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...config.model import Code, ConfigError, Origin
from .rewrite import JsSyntaxError, Token, tokenize

_KEYWORDS = {
    "try": "try/catch/finally is not supported by APPSYNC_JS",
    "throw": "throw is not supported by APPSYNC_JS: use util.error()",
    "class": "classes are not supported by APPSYNC_JS",
    "async": "async functions are not supported by APPSYNC_JS",
    "await": "await is not supported by APPSYNC_JS",
    "Promise": "Promise is not supported by APPSYNC_JS",
    "yield": "generators are not supported by APPSYNC_JS",
    "while": "while and do…while loops are not supported by APPSYNC_JS: use for…of or for…in",
    "do": "while and do…while loops are not supported by APPSYNC_JS: use for…of or for…in",
    "continue": "continue is not supported by APPSYNC_JS",
    "this": "this is not supported by APPSYNC_JS",
    "instanceof": "instanceof is not supported by APPSYNC_JS",
}
_OPERATORS = {
    "++": "the ++ operator is not supported by APPSYNC_JS: use += 1",
    "--": "the -- operator is not supported by APPSYNC_JS: use -= 1",
    "~": "the ~ operator is not supported by APPSYNC_JS",
}
#: `util.*` helpers of VTL's `$util` that `@aws-appsync/utils` does not declare. The emulator
#: provides them, but AppSync's APPSYNC_JS runtime may not.
_VTL_ONLY = frozenset(
    "toJson parseJson isNull isNullOrEmpty isNullOrBlank defaultIfNull defaultIfNullOrEmpty "  # noqa: SIM905
    "defaultIfNullOrBlank isString isNumber isBoolean isList isMap typeOf qr quiet validate".split()
)


def lint_source(src: str) -> list[tuple[int, int, str]]:
    """(line, column, message) for each construct AppSync would reject, one per rule and line."""
    try:
        toks = [t for t in tokenize(src) if t.kind != "comment"]
    except JsSyntaxError:
        return []
    found: dict[tuple[int, str], tuple[int, int, str]] = {}

    def warn(t: Token, message: str) -> None:
        found.setdefault((t.line, message), (t.line, t.col, message))

    openers: list[tuple[str, Token | None]] = []  # (bracket, token before it)
    for i, t in enumerate(toks):
        prev = toks[i - 1] if i else None
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t.kind == "punct" and t.text in ("(", "[", "{"):
            openers.append((t.text, prev))
        elif t.kind == "punct" and t.text in (")", "]", "}") and openers:
            openers.pop()
        elif t.kind in ("tmpl", "tmpl_head"):
            if t.text.startswith("}") and openers:
                openers.pop()
            if t.kind == "tmpl_head":
                openers.append(("${", prev))
        if t.kind == "regex":
            warn(t, "regular expression literals are not supported by APPSYNC_JS: use util.matches()")
        elif t.kind == "punct" and t.text in _OPERATORS:
            warn(t, _OPERATORS[t.text])
        elif t.kind == "name":
            after_dot = prev is not None and prev.text in (".", "?.")
            is_key = nxt is not None and nxt.text == ":" and bool(openers) and openers[-1][0] == "{"
            if after_dot or is_key:
                if after_dot and i >= 2 and toks[i - 2].text == "util" and t.text in _VTL_ONLY:
                    warn(t, f"util.{t.text} is a VTL helper that @aws-appsync/utils does not declare")
                continue
            if t.text in _KEYWORDS:
                if t.text == "async" and (nxt is None or (nxt.text not in ("function", "(") and nxt.kind != "name")):
                    continue
                warn(t, _KEYWORDS[t.text])
            elif t.text == "function" and nxt is not None and nxt.text == "*":
                warn(t, "generators are not supported by APPSYNC_JS")
            elif t.text == "for" and nxt is not None and nxt.text == "(" and _classic_for(toks, i + 1):
                warn(t, "for(;;) loops are not supported by APPSYNC_JS: use for…of or for…in")
            elif t.text == "in":
                bracket, before = openers[-1] if openers else ("", None)
                if not (bracket == "(" and before is not None and before.text == "for"):
                    warn(t, "the in operator is not supported by APPSYNC_JS: use Object.hasOwn()")
    return sorted(found.values())


def _classic_for(toks: list[Token], open_index: int) -> bool:
    """Whether the `for (` at open_index has `;` in its head (a C-style loop)."""
    depth = toks[open_index].depth
    for t in toks[open_index + 1 :]:
        if t.depth == depth and t.text == ")":
            return False
        if t.depth == depth + 1 and t.text == ";":
            return True
    return False


def lint_modules(modules: Mapping[str, Code]) -> list[ConfigError]:
    """Warnings (not errors) for every module: constructs that AppSync would reject at deploy time."""
    out: list[ConfigError] = []
    for code in modules.values():
        for line, col, message in lint_source(code.source):
            out.append(ConfigError(f"{message} (column {col})", Origin(code.path, line=line + code.line_offset)))
    return out
