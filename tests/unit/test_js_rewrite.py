"""The ES module → factory rewrite, its tokenizer, `check_modules` and the deploy-time lint."""

from __future__ import annotations

from pathlib import Path

import pytest

from appsync_emu.config.model import Code
from appsync_emu.runtimes.js import check_modules
from appsync_emu.runtimes.js.lint import lint_modules
from appsync_emu.runtimes.js.rewrite import JsImportError, JsSyntaxError, rewrite_module, tokenize


def kinds(src: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(src) if t.kind != "comment"]


# --- tokenizer ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "regexes"),
    [
        ("a = b / c / d", []),
        ("a = /b/g.test(c)", ["/b/g"]),
        ("f(/[/]\\//)", ["/[/]\\//"]),
        ("return /x/", ["/x/"]),
        ("x = (a) / 2", []),
        ("if (ok) /'/.test(s)", ["/'/"]),
        ("while (f(a) / 2) {}", []),
        ("x = arr[0] / 2", []),
        ("x = y++ / 2", []),
        ("if (a) {}\n/re/.test(s)", ["/re/"]),
        ("x = `${a}` / 2", []),
        ("x = `${ /re/.source }`", ["/re/"]),
        ("x = a /* c */ / b", []),
    ],
)
def test_regex_literals_are_told_from_division(src: str, regexes: list[str]) -> None:
    assert [text for kind, text in kinds(src) if kind == "regex"] == regexes


def test_template_literals_nest_and_track_lines() -> None:
    src = "const t = `a ${ `b ${ {x: '}'}.x } c` }\nd ${e}`;\nconst after = 1;"
    toks = tokenize(src)
    assert [t.text for t in toks if t.kind in ("tmpl", "tmpl_head")] == ["`a ${", "`b ${", "} c`", "}\nd ${", "}`"]
    after = next(t for t in toks if t.text == "after")
    assert (after.line, after.col, after.depth) == (3, 7, 0)


def test_strings_and_comments_hide_their_contents() -> None:
    src = "'export {a}' \"import x from 'y'\" // export function f\n/* import z from 'w' */ a"
    assert kinds(src) == [("str", "'export {a}'"), ("str", "\"import x from 'y'\""), ("name", "a")]


@pytest.mark.parametrize(
    ("src", "message", "line"),
    [
        ("const a = 'abc", "unterminated string literal", 1),
        ("x\nconst t = `abc", "unterminated template literal", 2),
        ("/* never ends", "unterminated comment", 1),
        ("f(]", "unexpected ']'", 1),
        ("function f() {\n  return 1;\n", "unclosed '{'", 1),
    ],
)
def test_tokenizer_errors_have_a_line(src: str, message: str, line: int) -> None:
    with pytest.raises(JsSyntaxError) as e:
        tokenize(src)
    assert (e.value.message, e.value.line) == (message, line)


# --- rewrite ---------------------------------------------------------------------------------------


def test_imports_become_require_calls_on_the_same_lines() -> None:
    src = (
        "import { util, runtime as rt } from '@aws-appsync/utils';\n"
        "import * as ddb from '@aws-appsync/utils/dynamodb';\n"
        "import ai, {\n  converse\n} from '@aws-appsync/utils/ai';\n"
        "import '@aws-appsync/utils/rds';\n"
        "export function request(ctx) { return 1; }\n"
        "export function response(ctx) { return 2; }\n"
    )
    f = rewrite_module("id", src)
    lines = f.source.split("\n")
    assert lines[0].endswith('const { util, runtime: rt } = __appsyncRequire("@aws-appsync/utils");')
    assert lines[1] == 'const ddb = __appsyncRequire("@aws-appsync/utils/dynamodb");'
    assert lines[2].startswith('const ai = __appsyncRequire("@aws-appsync/utils/ai").default; const { converse } = ')
    assert lines[5] == '__appsyncRequire("@aws-appsync/utils/rds");'
    assert lines[6] == "       function request(ctx) { return 1; }"
    assert f.exports == {"request": "request", "response": "response"}
    assert f.imports == [
        "@aws-appsync/utils",
        "@aws-appsync/utils/dynamodb",
        "@aws-appsync/utils/ai",
        "@aws-appsync/utils/rds",
    ]
    assert f.source.count("\n") == src.count("\n") + 3
    assert f.lines == src.count("\n") + 1


def test_export_forms() -> None:
    src = (
        "const a = 1, b = 2;\n"
        "export const request = (ctx) => a, other = b;\n"
        "export const { x, y: [z, w = 2], ...rest } = { y: [] };\n"
        "function handler() {}\n"
        "export { handler as response, a as 'quoted' };\n"
        "export default 5;\n"
    )
    f = rewrite_module("id", src)
    assert f.exports == {
        "request": "request",
        "other": "other",
        "x": "x",
        "z": "z",
        "w": "w",
        "rest": "rest",
        "response": "handler",
        "quoted": "a",
        "default": "__appsyncDefault",
    }
    assert f.export_line == 5
    assert "const __appsyncDefault = 5;" in f.source


def test_keywords_as_properties_are_left_alone() -> None:
    src = (
        "const o = { import: 1, export: 2, import(x) { return x; } };\no.import(o.export);\n"
        "export function request() {}\n"
    )
    f = rewrite_module("id", src)
    assert "o.import(o.export);" in f.source and "{ import: 1, export: 2, import(x)" in f.source


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("const m = import('x');", "dynamic import() is not supported"),
        ("const u = import.meta.url;", "import.meta is not supported"),
        ("export * from '@aws-appsync/utils';", "`export * from` is not supported"),
    ],
)
def test_unsupported_module_forms(src: str, message: str) -> None:
    with pytest.raises(JsSyntaxError) as e:
        rewrite_module("id", src)
    assert message in e.value.message


@pytest.mark.parametrize("spec", ["lodash", "./helpers", "@aws-appsync/utils/nope", "node:crypto"])
def test_other_imports_ask_to_bundle(spec: str) -> None:
    with pytest.raises(JsImportError) as e:
        rewrite_module("id", f"import x from '{spec}';")
    assert f"cannot import {spec!r}" in e.value.message and "bundle your dependencies" in e.value.message


# --- check_modules --------------------------------------------------------------------------------


def test_check_reports_every_broken_module_with_file_and_line() -> None:
    modules = {
        "ok": Code("export function request() {}\nexport function response() {}\n", Path("ok.js")),
        "syntax": Code(
            "export function request(ctx) {\n  const a = ;\n}\nexport function response() {}\n", Path("r/syntax.js")
        ),
        "inline": Code("export function request(ctx) {\n  return ctx.a +;\n}\n", Path("template.yaml"), line_offset=40),
        "import": Code("import _ from 'lodash';\nexport function request() {}\n", Path("r/import.js")),
        "no-response": Code("export function request() {}\n", Path("r/noresp.js")),
        "top-level": Code(
            "const a = null;\nconst b = a.x;\nexport function request() {}\nexport function response() {}\n",
            Path("r/top.js"),
        ),
    }
    errors = {str(e.origin.file) if e.origin else "": e for e in check_modules(modules)}
    assert set(errors) == {"r/syntax.js", "template.yaml", "r/import.js", "r/noresp.js", "r/top.js"}
    got = {file: (e.origin.line if e.origin else None, e.message) for file, e in errors.items()}
    assert got["r/syntax.js"] == (2, "SyntaxError: unexpected token in expression: ';' (column 13)")
    assert got["template.yaml"][0] == 42 and got["template.yaml"][1].startswith("SyntaxError:")
    assert got["r/import.js"][0] == 1 and got["r/import.js"][1].startswith("cannot import 'lodash'")
    assert got["r/noresp.js"][1].startswith("the module must export a `response` function")
    assert got["r/top.js"] == (2, "TypeError: cannot read property 'x' of null (column 11)")
    assert str(errors["r/syntax.js"]) == "r/syntax.js:2: SyntaxError: unexpected token in expression: ';' (column 13)"


def test_check_of_good_modules_is_empty() -> None:
    assert (
        check_modules({"a": Code("export function request() {}\nexport function response() {}\n", Path("a.js"))}) == []
    )


# --- lint ------------------------------------------------------------------------------------------------


def test_lint_warns_about_what_appsync_rejects_with_lines() -> None:
    src = (
        "import { util } from '@aws-appsync/utils';\n"
        "export function request(ctx) {\n"
        "  try { f(); } catch (e) {}\n"
        "  for (let i = 0; i < 3; i++) {}\n"
        "  for (const k in ctx.args) {}\n"
        "  for (const v of ctx.args.list) {}\n"
        "  if ('a' in ctx.args) {}\n"
        "  while (false) {}\n"
        "  const ok = /abc/.test('x');\n"
        "  const o = { class: 1, try: 2 };\n"
        "  throw new Error('x');\n"
        "  return util.toJson(ctx.args) + (a / b / c) + `${x}` + o.class;\n"
        "}\n"
        "export async function response(ctx) { return await ctx.result; }\n"
    )
    warnings = lint_modules({"m": Code(src, Path("m.js"))})
    got = [(w.origin.line if w.origin else None, w.message.split(" (column")[0]) for w in warnings]
    assert got == [
        (3, "try/catch/finally is not supported by APPSYNC_JS"),
        (4, "for(;;) loops are not supported by APPSYNC_JS: use for…of or for…in"),
        (4, "the ++ operator is not supported by APPSYNC_JS: use += 1"),
        (7, "the in operator is not supported by APPSYNC_JS: use Object.hasOwn()"),
        (8, "while and do…while loops are not supported by APPSYNC_JS: use for…of or for…in"),
        (9, "regular expression literals are not supported by APPSYNC_JS: use util.matches()"),
        (11, "throw is not supported by APPSYNC_JS: use util.error()"),
        (12, "util.toJson is a VTL helper that @aws-appsync/utils does not declare"),
        (14, "async functions are not supported by APPSYNC_JS"),
        (14, "await is not supported by APPSYNC_JS"),
    ]


def test_lint_of_clean_code_is_empty() -> None:
    src = (
        "import { util } from '@aws-appsync/utils';\n"
        "export function request(ctx) { const out = []; for (const x of ctx.args.items ?? []) { out.push(x); } "
        "return { payload: out, n: out.length / 2, ok: util.matches('a+', 'aa') }; }\n"
        "export function response(ctx) { return ctx.result; }\n"
    )
    assert lint_modules({"m": Code(src, Path("m.js"))}) == []
