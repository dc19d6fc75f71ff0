"""Turn an APPSYNC_JS ES module into a factory function that a plain script context can load.

None of the quickjs bindings can resolve `import … from '@aws-appsync/utils'`, so each module
is rewritten (docs/APPSYNC.md §10.3) into

    __define("<id>", function (__appsyncRequire) {"use strict"; <module body> ... return {request, response};});

with the wrapper on the module's first line, so every line number of the body is unchanged
(only columns of line 1 move, by `Factory.prefix_len`). Imports become `const … = __appsyncRequire(…)`
and `export` keywords are removed, both padded to the same number of lines. The work is done
on a real token stream (strings, template literals with nested `${}`, regex literals and
comments are skipped), not on lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

#: Specifiers the prelude provides. Anything else must be bundled into the module.
KNOWN_MODULES = frozenset(
    {
        "@aws-appsync/utils",
        "@aws-appsync/utils/dynamodb",
        "@aws-appsync/utils/rds",
        "@aws-appsync/utils/ai",
    }
)

_PUNCTUATORS = sorted(
    ">>>= ... === !== **= <<= >>= >>> &&= ||= ??= => == != <= >= && || ?? ?. ++ -- += -= *= /= %= &= |= ^= "  # noqa: SIM905
    "** << >> { } ( ) [ ] ; , < > + - * / % & | ^ ! ~ ? : = . @".split(),
    key=len,
    reverse=True,
)
_REGEX_AFTER_KEYWORDS = frozenset(
    "return typeof instanceof in of new delete void throw case do else yield await extends".split()  # noqa: SIM905
)
_STATEMENT_KEYWORDS = frozenset(
    "export import function async class const let var if for while do switch try throw return".split()  # noqa: SIM905
)
_LINE_TERMINATORS = "\n\r\u2028\u2029"
_CLOSERS = {")": "(", "]": "[", "}": "{"}


class JsSyntaxError(Exception):
    """A problem found while tokenizing or rewriting a module, at a 1-based line and column."""

    label = "SyntaxError: "

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(f"{message} (line {line}, column {col})")
        self.message = message
        self.line = line
        self.col = col


class JsImportError(JsSyntaxError):
    """An import the emulator cannot satisfy (anything but `@aws-appsync/utils*`)."""

    label = ""


@dataclass(frozen=True)
class Token:
    """One token. `depth` counts the brackets (and template `${`) around it; an opening or
    closing bracket has the depth outside it. `nl_before` is True when a line break precedes it."""

    kind: str  # name | num | str | tmpl | tmpl_head | regex | punct | comment | private
    text: str
    start: int
    end: int
    line: int
    col: int
    depth: int
    nl_before: bool


def tokenize(src: str) -> list[Token]:
    """Split JavaScript source into tokens, comments included; raise `JsSyntaxError` on
    unterminated strings, templates, comments or regex literals and on unbalanced brackets."""
    return _Lexer(src).run()


class _Lexer:
    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []
        self.stack: list[tuple[str, int, int, bool]] = []  # (opener, line, col, after if/while/for/with)
        self.closed_condition = False  # the last ')' closed `if (…)`, `while (…)`…: a regex may follow
        self.nl = False
        self.last: Token | None = None  # last non-comment token

    def error(self, message: str, at: int | None = None) -> JsSyntaxError:
        at = self.pos if at is None else at
        line = self.src.count("\n", 0, at) + 1
        col = at - (self.src.rfind("\n", 0, at) + 1) + 1
        return JsSyntaxError(message, line, col)

    def add(self, kind: str, start: int, end: int, line: int, col: int) -> None:
        tok = Token(kind, self.src[start:end], start, end, line, col, len(self.stack), self.nl)
        self.tokens.append(tok)
        if kind != "comment":
            self.last = tok
            self.nl = False

    def newlines_in(self, start: int, end: int) -> None:
        """Advance line bookkeeping over src[start:end]."""
        src = self.src
        i = start
        while i < end:
            c = src[i]
            if c in _LINE_TERMINATORS:
                if c == "\r" and i + 1 < end and src[i + 1] == "\n":
                    i += 1
                self.line += 1
                self.line_start = i + 1
                self.nl = True
            i += 1

    def regex_allowed(self) -> bool:
        t = self.last
        if t is None:
            return True
        if t.kind in ("num", "str", "regex", "private", "tmpl"):
            return False
        if t.kind == "tmpl_head":
            return True
        if t.kind == "name":
            return t.text in _REGEX_AFTER_KEYWORDS
        if t.text == ")":
            return self.closed_condition
        return t.text not in ("]", "++", "--")

    def run(self) -> list[Token]:
        src = self.src
        n = len(src)
        if src.startswith("#!"):
            end = self.line_end(0)
            self.add("comment", 0, end, 1, 1)
            self.pos = end
        while self.pos < n:
            i = self.pos
            c = src[i]
            line, col = self.line, i - self.line_start + 1
            if c in _LINE_TERMINATORS:
                self.newlines_in(i, i + 2 if src.startswith("\r\n", i) else i + 1)
                self.pos = i + (2 if src.startswith("\r\n", i) else 1)
            elif c in " \t\v\f\ufeff\xa0" or (c.isspace() and ord(c) > 127):
                self.pos = i + 1
            elif src.startswith("//", i):
                end = self.line_end(i)
                self.add("comment", i, end, line, col)
                self.pos = end
            elif src.startswith("/*", i):
                end = src.find("*/", i + 2)
                if end < 0:
                    raise self.error("unterminated comment", i)
                self.add("comment", i, end + 2, line, col)
                self.newlines_in(i, end + 2)
                self.pos = end + 2
            elif c in "\"'":
                self.add_spanning("str", i, self.string(i, c), line, col)
            elif c == "`":
                self.template(i, line, col)
            elif c == "}" and self.stack and self.stack[-1][0] == "${":
                self.stack.pop()
                self.template(i, line, col)
            elif c == "/" and self.regex_allowed():
                self.pos = self.regex(i)
                self.add("regex", i, self.pos, line, col)
            elif c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
                self.pos = self.number(i)
                self.add("num", i, self.pos, line, col)
            elif c.isalpha() or c in "_$\\" or ord(c) > 127:
                self.pos = self.identifier(i)
                self.add("name", i, self.pos, line, col)
            elif c == "#":
                self.pos = self.identifier(i + 1)
                self.add("private", i, self.pos, line, col)
            else:
                self.punct(i, line, col)
        if self.stack:
            opener, line, col, _ = self.stack[-1]
            what = "template literal" if opener == "${" else f"'{opener}'"
            raise JsSyntaxError(f"unclosed {what}", line, col)
        return self.tokens

    def line_end(self, i: int) -> int:
        src = self.src
        n = len(src)
        while i < n and src[i] not in _LINE_TERMINATORS:
            i += 1
        return i

    def string(self, i: int, quote: str) -> int:
        src = self.src
        n = len(src)
        j = i + 1
        while j < n:
            c = src[j]
            if c == "\\":
                j += 3 if src.startswith("\r\n", j + 1) else 2
            elif c == quote:
                return j + 1
            elif c in "\n\r":
                break
            else:
                j += 1
        raise self.error("unterminated string literal", i)

    def template(self, i: int, line: int, col: int) -> None:
        """Scan one template chunk starting at '`' or at the '}' closing a `${` expression."""
        src = self.src
        n = len(src)
        j = i + 1
        while j < n:
            c = src[j]
            if c == "\\":
                j += 2
            elif c == "`":
                self.add_spanning("tmpl", i, j + 1, line, col)
                return
            elif c == "$" and j + 1 < n and src[j + 1] == "{":
                self.add_spanning("tmpl_head", i, j + 2, line, col)
                self.stack.append(("${", line, col, False))
                return
            else:
                j += 1
        raise self.error("unterminated template literal", i)

    def add_spanning(self, kind: str, start: int, end: int, line: int, col: int) -> None:
        """Add a token that may contain line breaks (which do not count as breaks before the next)."""
        self.add(kind, start, end, line, col)
        self.newlines_in(start, end)
        self.nl = False
        self.pos = end

    def regex(self, i: int) -> int:
        src = self.src
        n = len(src)
        j = i + 1
        in_class = False
        while j < n:
            c = src[j]
            if c == "\\":
                j += 2
                continue
            if c in _LINE_TERMINATORS:
                break
            if in_class:
                if c == "]":
                    in_class = False
            elif c == "[":
                in_class = True
            elif c == "/":
                j += 1
                while j < n and (src[j].isalnum() or src[j] in "_$"):
                    j += 1
                return j
            j += 1
        raise self.error("unterminated regular expression literal", i)

    def number(self, i: int) -> int:
        src = self.src
        n = len(src)
        j = i
        while j < n:
            c = src[j]
            exponent_sign = c in "+-" and src[j - 1] in "eE" and not src[i : i + 2].lower().startswith("0x")
            if c.isalnum() or c in "_." or exponent_sign:
                j += 1
            else:
                break
        return j

    def identifier(self, i: int) -> int:
        src = self.src
        n = len(src)
        j = i
        while j < n:
            c = src[j]
            if c.isalnum() or c in "_$\u200c\u200d":
                j += 1
            elif c == "\\" and j + 1 < n and src[j + 1] == "u":
                j += 2
                if j < n and src[j] == "{":
                    close = src.find("}", j)
                    j = close + 1 if close > 0 else n
                else:
                    j += 4
            elif ord(c) > 127 and not c.isspace():
                j += 1
            else:
                break
        if j == i:
            raise self.error(f"unexpected character {src[i]!r}", i)
        return j

    def punct(self, i: int, line: int, col: int) -> None:
        src = self.src
        for p in _PUNCTUATORS:
            if src.startswith(p, i):
                if p == "?." and i + 2 < len(src) and src[i + 2].isdigit():
                    continue
                break
        else:
            raise self.error(f"unexpected character {src[i]!r}", i)
        end = i + len(p)
        if p in _CLOSERS:
            if not self.stack or self.stack[-1][0] != _CLOSERS[p]:
                raise self.error(f"unexpected '{p}'", i)
            self.closed_condition = self.stack.pop()[3]
            self.pos = end
            self.add("punct", i, end, line, col)
            return
        before = self.last
        self.pos = end
        self.add("punct", i, end, line, col)
        if p in ("(", "[", "{"):
            condition = p == "(" and before is not None and before.text in ("if", "while", "for", "with")
            self.stack.append((p, line, col, condition))


# --- the rewrite -------------------------------------------------------------------------


@dataclass
class Factory:
    """A rewritten module: `source` evaluates to a `__define(...)` call in a prelude context."""

    source: str
    prefix_len: int  # columns added in front of line 1
    lines: int  # lines of the original module
    exports: dict[str, str] = field(default_factory=dict)  # exported name -> local expression
    export_line: int | None = None  # where `export { … }` was, for errors about exported names
    imports: list[str] = field(default_factory=list)  # the module specifiers imported


def rewrite_module(module_id: str, src: str) -> Factory:
    """Rewrite one ES module into a `__define(module_id, factory)` script (see module docstring)."""
    tokens = [t for t in tokenize(src) if t.kind != "comment"]
    return _Rewriter(module_id, src, tokens).run()


class _Rewriter:
    def __init__(self, module_id: str, src: str, tokens: list[Token]) -> None:
        self.module_id = module_id
        self.src = src
        self.toks = tokens
        self.edits: list[tuple[int, int, str]] = []
        self.exports: dict[str, str] = {}
        self.export_line: int | None = None
        self.imports: list[str] = []

    def tok(self, i: int) -> Token | None:
        return self.toks[i] if i < len(self.toks) else None

    def expect(self, i: int, text: str | None = None, kind: str | None = None) -> Token:
        t = self.tok(i)
        if t is None:
            last = self.toks[-1]
            raise JsSyntaxError(f"unexpected end of input, expected {text or kind}", last.line, last.col)
        if (text is not None and t.text != text) or (kind is not None and t.kind != kind):
            raise JsSyntaxError(f"expected {text or kind} but found {t.text!r}", t.line, t.col)
        return t

    def run(self) -> Factory:
        toks = self.toks
        i = 0
        while i < len(toks):
            t = toks[i]
            prev = toks[i - 1] if i else None
            after_dot = prev is not None and prev.text in (".", "?.")
            if t.kind == "name" and t.text == "import" and not after_dot:
                nxt = self.tok(i + 1)
                if nxt is not None and nxt.text == "(" and not self.is_method(i + 1):
                    raise JsSyntaxError(
                        "dynamic import() is not supported by APPSYNC_JS: bundle your code into one module",
                        t.line,
                        t.col,
                    )
                if nxt is not None and nxt.text == ".":
                    raise JsSyntaxError("import.meta is not supported by APPSYNC_JS", t.line, t.col)
                if t.depth == 0:
                    i = self.import_statement(i)
                    continue
            if t.kind == "name" and t.text == "export" and not after_dot and t.depth == 0:
                i = self.export_statement(i)
                continue
            i += 1
        return self.build()

    def is_method(self, open_index: int) -> bool:
        """Whether the `(` at open_index starts the parameters of a method (`import() {…}`)."""
        depth = self.toks[open_index].depth
        for j in range(open_index + 1, len(self.toks)):
            t = self.toks[j]
            if t.depth == depth and t.text == ")":
                nxt = self.tok(j + 1)
                return nxt is not None and nxt.text == "{"
        return False

    def build(self) -> Factory:
        out: list[str] = []
        pos = 0
        for start, end, text in sorted(self.edits):
            out.append(self.src[pos:start])
            out.append(text)
            pos = end
        out.append(self.src[pos:])
        body = "".join(out)
        prefix = f'__define({json.dumps(self.module_id)}, function (__appsyncRequire) {{"use strict";'
        ret = ", ".join(f"{json.dumps(k)}: {v}" for k, v in self.exports.items())
        suffix = f"\n;return {{{ret}}};\n}});\n"
        lines = self.src.count("\n") + 1
        return Factory(
            source=prefix + body + suffix,
            prefix_len=len(prefix),
            lines=lines,
            exports=dict(self.exports),
            export_line=self.export_line,
            imports=list(self.imports),
        )

    def replace(self, start_tok: Token, end_tok: Token, text: str) -> None:
        """Replace the source from start_tok to end_tok (inclusive), keeping the line count."""
        original = self.src[start_tok.start : end_tok.end]
        self.edits.append((start_tok.start, end_tok.end, text + "\n" * original.count("\n")))

    def module_spec(self, t: Token) -> str:
        raw = t.text[1:-1]
        try:
            spec = str(json.loads('"' + raw.replace('"', '\\"') + '"')) if "\\" in raw else raw
        except ValueError:
            spec = raw
        if spec not in KNOWN_MODULES:
            raise JsImportError(
                f"cannot import {spec!r}: APPSYNC_JS provides only @aws-appsync/utils "
                "(and its /dynamodb, /rds and /ai sub-modules); bundle your dependencies into the "
                "module (esbuild --bundle --external:@aws-appsync/utils)",
                t.line,
                t.col,
            )
        self.imports.append(spec)
        return spec

    def statement_end(self, i: int) -> int:
        """Index after an optional `;` and import attributes (`with {…}` / `assert {…}`)."""
        t = self.tok(i)
        if t is not None and t.kind == "name" and t.text in ("with", "assert") and not t.nl_before:
            nxt = self.expect(i + 1, "{")
            j = i + 2
            while (tj := self.tok(j)) is not None and not (tj.text == "}" and tj.depth == nxt.depth):
                j += 1
            i = j + 1
        t = self.tok(i)
        if t is not None and t.text == ";":
            i += 1
        return i

    def import_statement(self, i: int) -> int:
        start = self.toks[i]
        j = i + 1
        t = self.expect(j)
        if t.kind == "str":
            spec = self.module_spec(t)
            end = self.statement_end(j + 1)
            self.replace(start, self.toks[end - 1], f"__appsyncRequire({json.dumps(spec)});")
            return end
        default: str | None = None
        namespace: str | None = None
        named: list[tuple[str, str]] = []
        if t.kind == "name" and t.text != "from":
            default = t.text
            j += 1
            if self.expect(j).text == ",":
                j += 1
        t = self.expect(j)
        if t.text == "*":
            self.expect(j + 1, "as")
            namespace = self.expect(j + 2, kind="name").text
            j += 3
        elif t.text == "{":
            j, named = self.import_specifiers(j + 1)
        self.expect(j, "from")
        spec_tok = self.expect(j + 1, kind="str")
        spec = self.module_spec(spec_tok)
        end = self.statement_end(j + 2)
        req = f"__appsyncRequire({json.dumps(spec)})"
        parts: list[str] = []
        if default is not None:
            parts.append(f"const {default} = {req}.default;")
        if namespace is not None:
            parts.append(f"const {namespace} = {req};")
        if named:
            binds = ", ".join(local if imported == local else f"{imported}: {local}" for imported, local in named)
            parts.append(f"const {{ {binds} }} = {req};")
        if not parts:
            parts.append(f"{req};")
        self.replace(start, self.toks[end - 1], " ".join(parts))
        return end

    def import_specifiers(self, j: int) -> tuple[int, list[tuple[str, str]]]:
        named: list[tuple[str, str]] = []
        while True:
            t = self.expect(j)
            if t.text == "}":
                return j + 1, named
            if t.text == ",":
                j += 1
                continue
            nxt = self.tok(j + 1)
            if t.text == "type" and nxt is not None and nxt.kind in ("name", "str") and nxt.text != "as":
                j += 1
                t = nxt
                nxt = self.tok(j + 1)
            imported = t.text if t.kind == "name" else json.dumps(json.loads(t.text.replace("'", '"')))
            local = t.text
            j += 1
            if nxt is not None and nxt.text == "as":
                local = self.expect(j + 1, kind="name").text
                j += 2
            elif t.kind != "name":
                raise JsSyntaxError("a string import name needs `as <identifier>`", t.line, t.col)
            named.append((imported, local))

    def export_statement(self, i: int) -> int:
        start = self.toks[i]
        t = self.expect(i + 1)
        if t.text == "default":
            self.edits.append((start.start, t.end, "const __appsyncDefault ="))
            self.exports["default"] = "__appsyncDefault"
            return i + 2
        if t.text in ("{", "*"):
            return self.export_list(i)
        if t.kind != "name" or t.text not in ("function", "async", "class", "const", "let", "var"):
            raise JsSyntaxError(f"unsupported export form: export {t.text}", t.line, t.col)
        self.edits.append((start.start, start.end, " " * len("export")))
        j = i + 1
        if t.text == "async":
            j += 1
        if t.text in ("function", "async", "class"):
            j += 1
            if self.expect(j).text == "*":
                j += 1
            name = self.expect(j, kind="name")
            self.exports[name.text] = name.text
            return j + 1
        return self.export_declarators(j + 1)

    def export_list(self, i: int) -> int:
        start = self.toks[i]
        self.export_line = start.line
        j = i + 1
        pairs: list[tuple[str, str]] = []
        namespace_all = False
        t = self.expect(j)
        if t.text == "*":
            if self.expect(j + 1).text == "as":
                pairs.append(("*", self.expect(j + 2).text.strip("'\"")))
                j += 3
            else:
                namespace_all = True
                j += 1
        else:
            j += 1
            while True:
                t = self.expect(j)
                if t.text == "}":
                    j += 1
                    break
                if t.text == ",":
                    j += 1
                    continue
                local = t.text
                exported = local
                nxt = self.tok(j + 1)
                j += 1
                if nxt is not None and nxt.text == "as":
                    exported = self.expect(j + 1).text.strip("'\"")
                    j += 2
                pairs.append((local, exported))
        spec: str | None = None
        t2 = self.tok(j)
        if t2 is not None and t2.text == "from":
            spec = self.module_spec(self.expect(j + 1, kind="str"))
            j += 2
        elif namespace_all:
            raise JsSyntaxError("`export *` needs `from`", t.line, t.col)
        if namespace_all:
            raise JsSyntaxError("`export * from` is not supported: bundle the module", start.line, start.col)
        end = self.statement_end(j)
        for local, exported in pairs:
            if spec is None:
                self.exports[exported] = local
            elif local == "*":
                self.exports[exported] = f"__appsyncRequire({json.dumps(spec)})"
            else:
                self.exports[exported] = f"__appsyncRequire({json.dumps(spec)})[{json.dumps(local)}]"
        self.replace(start, self.toks[end - 1], "")
        return end

    def export_declarators(self, j: int) -> int:
        """Record the names bound by `const|let|var <declarators>`; return the next index."""
        while True:
            names, j = self.binding(j)
            for n in names:
                self.exports[n] = n
            while (t := self.tok(j)) is not None:
                if t.depth == 0 and t.text == ";":
                    return j + 1
                if t.depth == 0 and t.text == ",":
                    j += 1
                    break
                if t.nl_before and t.kind == "name" and t.text in _STATEMENT_KEYWORDS:
                    return j
                j += 1
            else:
                return j

    def binding(self, j: int) -> tuple[list[str], int]:
        """Names bound by one binding pattern starting at j, and the index after it."""
        t = self.expect(j)
        if t.kind == "name":
            return [t.text], j + 1
        if t.text not in ("{", "["):
            raise JsSyntaxError(f"unexpected {t.text!r} in a declaration", t.line, t.col)
        closer = "}" if t.text == "{" else "]"
        inner = t.depth + 1
        names: list[str] = []
        j += 1
        while True:
            e = self.expect(j)
            if e.text == closer and e.depth == t.depth:
                return names, j + 1
            if e.text == ",":
                j += 1
                continue
            if e.text == "...":
                sub, j = self.binding(j + 1)
                names += sub
            elif t.text == "{":
                key_end = j + 1
                if e.text == "[":
                    while not ((k := self.expect(key_end)).text == "]" and k.depth == inner):
                        key_end += 1
                    key_end += 1
                nxt = self.tok(key_end)
                if nxt is not None and nxt.text == ":":
                    sub, j = self.binding(key_end + 1)
                    names += sub
                else:
                    names.append(e.text)
                    j = key_end
            else:
                sub, j = self.binding(j)
                names += sub
            d = self.tok(j)
            if d is not None and d.text == "=":
                j += 1
                while True:
                    k = self.expect(j)
                    if (k.depth == inner and k.text == ",") or (k.depth == t.depth and k.text == closer):
                        break
                    j += 1
