"""Velocity as AppSync runs it: upstream `airspeed` 0.7.1 plus a shim, parsed once, rendered under a budget.

The shim (docs/DECISIONS.md, "VTL engine") adds what AppSync's dialect has and airspeed lacks:
`#return`/`#return(value)` and `#break`; Java methods on strings, lists and maps, which take
the place of Python's (`split` is a regex split, `list.remove(0)` removes by index); Java's
`toString` when a value is rendered (`true`, `[a, 1]`, `{a=1}`, `2.0`); Velocity's `#foreach`
over a map's values; and a fix for `"#$ref"`, which airspeed renders as text. Names starting
with `_` never resolve, so a template cannot reach Python internals.

The shim patches a private instance of airspeed's module (`_private_airspeed`), so other users
of the package in the same process (the bench, tests) see it unchanged, and their patches do
not reach the emulator.

Python cannot interrupt a thread, so the budget is cooperative: every `#foreach` iteration and
macro call checks a CPU-time deadline, range literals and every value a Java method returns are
capped, and so is the total text a render writes (`Budget`). Running past the deadline raises
`BudgetExceeded`, which the runtime answers by running the render again in a worker process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from io import StringIO
from typing import Any

from ... import limits


def _private_airspeed() -> Any:
    """A private instance of the `airspeed` module: the shim's patches stay out of the shared package."""
    found = importlib.util.find_spec("airspeed")
    assert found is not None and found.origin is not None, "the airspeed package is a dependency"
    spec = importlib.util.spec_from_file_location(f"{__name__}._airspeed", found.origin)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


airspeed = _private_airspeed()

#: Largest range literal (`[1..n]`) and largest string or list a Java method may return.
MAX_RANGE = limits.JS_MEMORY_LIMIT_BYTES // 64
#: Characters a render may write in all (its output, interpolated strings and macro bodies).
MAX_OUTPUT_CHARS = limits.JS_MEMORY_LIMIT_BYTES // 4


class VtlSyntaxError(Exception):
    """The template does not parse; `line` is 1-based in the template text."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class RenderError(Exception):
    """Rendering failed in the template (not a signal): `line` is 1-based in the template text."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class BudgetExceeded(Exception):
    """The render used more CPU time than its budget allows."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"the template used more than {limit_s:g} s of CPU time")
        self.limit_s = limit_s


class ReturnSignal(Exception):
    """`#return` / `#return(value)`: the render stops and `value` is the result as is."""

    def __init__(self, value: Any) -> None:
        super().__init__("#return")
        self.value = value


class _BreakSignal(Exception):
    """`#break`: leave the innermost `#foreach`."""


@dataclass
class Budget:
    """The limits of one render: a `time.thread_time()` deadline and the characters it may still write."""

    limit_s: float
    deadline: float = 0.0
    chars_left: int = MAX_OUTPUT_CHARS

    def start(self) -> None:
        self.deadline = time.thread_time() + self.limit_s
        self.chars_left = MAX_OUTPUT_CHARS


_current = threading.local()


def _budget() -> Budget | None:
    budget: Budget | None = getattr(_current, "budget", None)
    return budget


def _check_time() -> None:
    budget = _budget()
    if budget is not None and time.thread_time() > budget.deadline:
        raise BudgetExceeded(budget.limit_s)


def _check_size(value: Any) -> Any:
    """`value`, unless it is a string or collection larger than a template may build."""
    if isinstance(value, str) and len(value) > MAX_OUTPUT_CHARS:
        raise MemoryError(f"a string of {len(value)} characters is more than a template may build")
    if isinstance(value, list | dict) and len(value) > MAX_RANGE:
        raise MemoryError(f"a collection of {len(value)} elements is more than a template may build")
    return value


# --- Java's view of JSON values ------------------------------------------------------------


class MapEntry(dict[str, Any]):
    """An element of `$map.entrySet()`: `$e.key`, `$e.value`, `$e.getKey()`, `$e.getValue()`."""

    def getKey(self) -> Any:
        return self["key"]

    def getValue(self) -> Any:
        return self["value"]


def java_str(value: Any) -> str:
    """Java's `toString` of a JSON-shaped value: `true`, `null`, `2.0`, `[a, 1]`, `{k=v}`."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value == int(value) and abs(value) < 1e7:
            return f"{int(value)}.0"
        return repr(value)
    if isinstance(value, MapEntry):
        return f"{java_str(value['key'])}={java_str(value['value'])}"
    if isinstance(value, list | tuple | range):
        return "[" + ", ".join(java_str(x) for x in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_str(x)}" for k, x in value.items()) + "}"
    return str(value)


def _java_regex_replacement(replacement: str) -> str:
    """Java's `$1` group references as Python's `\\1`."""
    return re.sub(r"\$(\d)", r"\\\1", replacement.replace("\\", "\\\\"))


def _split(s: str, pattern: str, limit: int = 0) -> list[str]:
    parts = re.split(pattern, s, maxsplit=max(0, limit - 1)) if limit > 0 else re.split(pattern, s)
    if limit == 0:
        while parts and parts[-1] == "":
            parts.pop()
    return parts


def _substring(s: str, begin: int, end: int | None = None) -> str:
    stop = len(s) if end is None else end
    if not 0 <= begin <= stop <= len(s):
        raise IndexError(f"begin {begin}, end {stop}, length {len(s)}")
    return s[begin:stop]


def _list_remove(lst: list[Any], x: Any) -> Any:
    if isinstance(x, int) and not isinstance(x, bool):
        return lst.pop(x)
    if x in lst:
        lst.remove(x)
        return True
    return False


def _list_set(lst: list[Any], i: int, x: Any) -> Any:
    old = lst[i]
    lst[i] = x
    return old


def _add(lst: list[Any], *args: Any) -> bool:
    if len(args) == 2:
        lst.insert(args[0], args[1])
    else:
        lst.append(args[0])
    return True


def _add_all(lst: list[Any], xs: Iterable[Any]) -> bool:
    lst.extend(xs)
    return True


def _put(d: dict[str, Any], k: Any, v: Any) -> Any:
    old = d.get(k)
    d[k] = v
    return old


def _compare(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


_OBJECT: dict[str, Callable[..., Any]] = {
    "toString": java_str,
    "equals": lambda a, b: a == b,
    "hashCode": hash,
}
_NUMBER: dict[str, Callable[..., Any]] = {
    **_OBJECT,
    "intValue": int,
    "longValue": int,
    "doubleValue": float,
    "floatValue": float,
    "compareTo": _compare,
}

#: Java methods by the Python class of the value; a method not listed does not exist (it renders as written).
JAVA_METHODS: dict[type, dict[str, Callable[..., Any]]] = {
    str: {
        **_OBJECT,
        "length": len,
        "isEmpty": lambda s: len(s) == 0,
        "isBlank": lambda s: not s.strip(),
        "toLowerCase": str.lower,
        "toUpperCase": str.upper,
        "trim": str.strip,
        "strip": str.strip,
        "equalsIgnoreCase": lambda s, o: isinstance(o, str) and s.lower() == o.lower(),
        "contains": lambda s, o: str(o) in s,
        "startsWith": lambda s, o, i=0: s.startswith(o, i),
        "endsWith": lambda s, o: s.endswith(o),
        "indexOf": lambda s, o, i=0: s.find(o, i),
        "lastIndexOf": lambda s, o: s.rfind(o),
        "substring": _substring,
        "charAt": lambda s, i: s[i],
        "concat": lambda s, o: s + o,
        "replace": lambda s, a, b: s.replace(str(a), str(b)),
        "replaceAll": lambda s, p, r: re.sub(p, _java_regex_replacement(r), s),
        "replaceFirst": lambda s, p, r: re.sub(p, _java_regex_replacement(r), s, count=1),
        "split": _split,
        "matches": lambda s, p: re.fullmatch(p, s) is not None,
        "compareTo": _compare,
    },
    list: {
        **_OBJECT,
        "size": len,
        "isEmpty": lambda lst: len(lst) == 0,
        "add": _add,
        "addAll": _add_all,
        "get": lambda lst, i: lst[i],
        "set": _list_set,
        "contains": lambda lst, x: x in lst,
        "containsAll": lambda lst, xs: all(x in lst for x in xs),
        "remove": _list_remove,
        "indexOf": lambda lst, x: lst.index(x) if x in lst else -1,
        "lastIndexOf": lambda lst, x: len(lst) - 1 - lst[::-1].index(x) if x in lst else -1,
        "clear": lambda lst: lst.clear(),
        "subList": lambda lst, a, b: lst[a:b],
    },
    dict: {
        **_OBJECT,
        "size": len,
        "isEmpty": lambda d: len(d) == 0,
        "put": _put,
        "putAll": lambda d, o: d.update(o),
        "putIfAbsent": lambda d, k, v: d.setdefault(k, v) if k not in d else d[k],
        "get": lambda d, k: d.get(k),
        "getOrDefault": lambda d, k, v: d.get(k, v),
        "containsKey": lambda d, k: k in d,
        "containsValue": lambda d, v: v in d.values(),
        "remove": lambda d, k: d.pop(k, None),
        "clear": lambda d: d.clear(),
        "keySet": lambda d: list(d),
        "values": lambda d: list(d.values()),
        "entrySet": lambda d: [MapEntry(key=k, value=v) for k, v in d.items()],
    },
    bool: {**_OBJECT, "booleanValue": bool},
    int: _NUMBER,
    float: _NUMBER,
}


class ForeachScope(dict[str, Any]):
    """Velocity's `$foreach`: its properties (`$foreach.hasNext`) and its getters (`$foreach.hasNext()`).

    Amplify's generated resolvers join update clauses with `#if( $foreach.hasNext() )`.
    """


JAVA_METHODS[ForeachScope] = {
    **_OBJECT,
    "hasNext": lambda s: s["hasNext"],
    "getCount": lambda s: s["count"],
    "getIndex": lambda s: s["index"],
    "isFirst": lambda s: s["first"],
    "isLast": lambda s: s["last"],
}


# --- the shim ------------------------------------------------------------------------------


_Element: Any = airspeed._Element


class _ReturnDirective(_Element):  # type: ignore[misc]
    START = re.compile(r"#(?:return\b|\{return\})", re.S)
    OPEN = re.compile(r"\s*\(", re.S)
    CLOSE = re.compile(r"\s*\)", re.S)

    def parse(self) -> None:
        self.identity_match(self.START)
        self.value = None
        try:
            self.identity_match(self.OPEN)
        except airspeed.NoMatch:
            return
        self.value = self.require_next_element(airspeed.Expression, "expression")
        self.require_match(self.CLOSE, ")")

    def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
        raise ReturnSignal(None if self.value is None else self.value.calculate(namespace, loader))


class _BreakDirective(_Element):  # type: ignore[misc]
    START = re.compile(r"#(?:break\b|\{break\})", re.S)

    def parse(self) -> None:
        self.identity_match(self.START)

    def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
        raise _BreakSignal()


def _write(self: Any, s: str) -> None:
    """StoppableStream.write, charged against the render's output budget."""
    if self.stop:
        return
    budget = _budget()
    if budget is not None:
        budget.chars_left -= len(s)
        if budget.chars_left < 0:
            raise MemoryError(f"the template wrote more than {MAX_OUTPUT_CHARS} characters")
    StringIO.write(self, s)


def _foreach(self: Any, stream: Any, namespace: Any, loader: Any) -> None:
    """Velocity's #foreach: lists, a map's values, ranges; `$foreach.*`, `#break`, the deadline."""
    value = self.value.calculate(namespace, loader)
    if isinstance(value, dict):
        items: list[Any] | range = list(value.values())
    elif isinstance(value, list | tuple):
        items = list(value)
    elif isinstance(value, range):
        items = value
    else:
        return  # null or not iterable: Velocity skips the loop
    length = len(items)
    for i, item in enumerate(items):
        _check_time()
        local = airspeed.LocalNamespace(namespace)
        count = i + 1
        local["velocityCount"] = count
        local["velocityHasNext"] = count < length
        local["foreach"] = ForeachScope(
            count=count, index=i, hasNext=count < length, first=count == 1, last=count == length
        )
        local[self.loop_var_name] = item
        try:
            self.block.evaluate(stream, local, loader)
        except airspeed.TemplateExecutionError as e:
            if isinstance(e.__cause__, _BreakSignal):
                return
            raise


def _range(self: Any, namespace: Any, loader: Any) -> range:
    a, b = self.value1.calculate(namespace, loader), self.value2.calculate(namespace, loader)
    if not isinstance(a, int) or not isinstance(b, int):
        raise ValueError(f"a range needs integers, not [{java_str(a)}..{java_str(b)}]")
    if abs(b - a) >= MAX_RANGE:
        raise MemoryError(f"the range [{a}..{b}] has more than {MAX_RANGE} elements")
    return range(a, b - 1, -1) if b < a else range(a, b + 1)


_macro_call = airspeed.MacroCall.evaluate_raw


def _macro(self: Any, stream: Any, namespace: Any, loader: Any) -> None:
    _check_time()
    _macro_call(self, stream, namespace, loader)


def _interpolate(self: Any, namespace: Any, loader: Any) -> str:
    """A "…$ref…" string; a failure inside it is reported at the string's own position."""
    output = airspeed.StoppableStream()
    try:
        self.block.evaluate(output, namespace, loader)
    except airspeed.TemplateExecutionError as e:
        raise (e.__cause__ or e) from None
    return str(output.getvalue())


def _name_or_call(self: Any, current: Any, loader: Any, top: Any) -> Any:
    """`.name`, `.name(args)`, `[index]`: Java methods on JSON values, attributes elsewhere, no `_` names."""
    name: str = self.name
    if name.startswith("_"):
        return None
    methods = JAVA_METHODS.get(current.__class__)
    result: Any = None
    if methods is not None:
        if self.parameters is not None:
            method = methods.get(name)
            if method is None:
                return None
            return _check_size(method(current, *self.parameters.calculate(top, loader)))
        if isinstance(current, dict):
            result = current.get(name)
    else:
        with contextlib.suppress(KeyError, TypeError, AttributeError, IndexError):
            result = current[name]
        if result is None and not isinstance(current, airspeed.LocalNamespace):
            result = getattr(current, name, None)
        if result is None:
            return None
        if isinstance(result, airspeed._FunctionDefinition):
            _check_time()
            params = self.parameters.calculate(top, loader) if self.parameters is not None else []
            stream = airspeed.StoppableStream()
            result.execute_function(stream, top, params, loader)
            return stream.getvalue()
        if self.parameters is not None:
            return _check_size(result(*self.parameters.calculate(top, loader)))
    if self.index is not None:
        index = self.index.calculate(top, loader)
        try:
            result = result[index]
        except (KeyError, IndexError, TypeError):
            result = None
    return result


def truthy(value: Any) -> bool:
    """Velocity 1.7's condition: only null and false are false (an empty string or list is true)."""
    return value is not None and value is not False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals(a: Any, b: Any) -> bool:
    """Velocity's `==`: numbers by value, the same class by `equals`, otherwise by `toString`."""
    if a is None or b is None:
        return a is b
    if (_is_number(a) and _is_number(b)) or type(a) is type(b):
        return bool(a == b)
    return java_str(a) == java_str(b)


def _plus(a: Any, b: Any) -> Any:
    if isinstance(a, str) or isinstance(b, str):
        return (a if isinstance(a, str) else java_str(a)) + (b if isinstance(b, str) else java_str(b))
    return a + b


def _divide(a: Any, b: Any) -> Any:
    """Java's division: integers truncate toward zero; dividing by zero gives null, as in Velocity."""
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    return a / b


def _modulo(a: Any, b: Any) -> Any:
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return int(math.fmod(a, b))
    return math.fmod(a, b)


def _if(self: Any, stream: Any, namespace: Any, loader: Any) -> None:
    if truthy(self.condition.calculate(namespace, loader)):
        self.block.evaluate(stream, namespace, loader)
        return
    for elseif in self.elseifs:
        if truthy(elseif.calculate(namespace, loader)):
            elseif.evaluate(stream, namespace, loader)
            return
    self.else_block.evaluate(stream, namespace, loader)


def _reference(self: Any, stream: Any, namespace: Any, loader: Any) -> None:
    """`$ref`, `$!ref`, `${ref|alt}` rendered with Java's toString; a missing one renders as written."""
    value = None if self.expression is None else self.expression.calculate(namespace, loader)
    if value is None:
        if self.alternate is not None:
            value = self.alternate.calculate(namespace, loader)
        elif self.silent and self.expression is not None:
            value = ""
        else:
            value = self.my_text()
    stream.write(value if isinstance(value, str) else java_str(value))


def _set_inherited(self: Any, key: str, value: Any) -> None:
    """`#set($x = …)`: a variable not yet set in an enclosing scope is global, as in Velocity (not loop-local)."""
    ns = self.find_outermost(key)
    if ns is None:
        ns = self
        while isinstance(ns.parent, airspeed.LocalNamespace):
            ns = ns.parent
    ns[key] = value


def _install() -> None:
    airspeed.UserDefinedDirective.DIRECTIVES = [_ReturnDirective, _BreakDirective]
    # airspeed's plain-text rule swallows the `$` of `#$ref` ("#$entry.key" in Amplify's update
    # templates), so the reference after a `#` would never render.
    plain = airspeed.Text.PLAIN.pattern.replace(r"#[^\{\}a-zA-Z0-9#\*]+", r"#[^\{\}a-zA-Z0-9#\*\$]+")
    airspeed.Text.PLAIN = re.compile(plain, re.S | re.I)
    # A backslash before any character is allowed in string literals (regexes: "\\d+").
    airspeed.StringLiteral.STRING = re.compile(r"'((?:\\.|[^'\\])*)'", re.S)
    airspeed.InterpolatedStringLiteral.STRING = re.compile(r'"((?:\\.|[^"\\])*)"', re.S)
    airspeed.StoppableStream.write = _write
    airspeed.ForeachDirective.evaluate_raw = _foreach
    airspeed.Range.calculate = _range
    airspeed.MacroCall.evaluate_raw = _macro
    airspeed.InterpolatedStringLiteral.calculate = _interpolate
    airspeed.NameOrCall.calculate = _name_or_call
    airspeed.FormalReference.evaluate_raw = _reference
    airspeed.LocalNamespace.set_inherited = _set_inherited
    airspeed.IfDirective.evaluate_raw = _if
    airspeed.UnaryOperatorValue.OPERATORS.update({"!": lambda v: not truthy(v), "not": lambda v: not truthy(v)})
    airspeed.BinaryOperator.OPERATORS.update(
        {
            "==": _equals,
            "eq": _equals,
            "!=": lambda a, b: not _equals(a, b),
            "ne": lambda a, b: not _equals(a, b),
            "||": lambda a, b: truthy(a) or truthy(b),
            "or": lambda a, b: truthy(a) or truthy(b),
            "&&": lambda a, b: truthy(a) and truthy(b),
            "and": lambda a, b: truthy(a) and truthy(b),
            "+": _plus,
            "/": _divide,
            "%": _modulo,
        }
    )


_install()


# --- parse and render ----------------------------------------------------------------------


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, max(0, offset)) + 1


@lru_cache(maxsize=4096)
def parse(text: str) -> Any:
    """The parsed template (cached by its text); `VtlSyntaxError` with the line if it does not parse."""
    template = airspeed.Template(text)
    try:
        template.ensure_compiled()
    except airspeed.TemplateSyntaxError as e:
        inner = e.element.full_text() is text
        message = str(e).split(": ", 1)[1] if ": " in str(e) else str(e)
        where = f" (column {e.column})" if inner else ""
        return VtlSyntaxError(f"syntax error: {message}{where}", e.line if inner else 1)
    except RecursionError:
        return VtlSyntaxError("syntax error: the template nests too deeply", 1)
    return template


def compile_template(text: str) -> Any:
    """The parsed template; raises `VtlSyntaxError`."""
    parsed = parse(text)
    if isinstance(parsed, VtlSyntaxError):
        raise parsed
    return parsed


@dataclass
class Rendered:
    """What a render produced: its text, or the value of a `#return` (`returned` set)."""

    text: str = ""
    returned: bool = False
    value: Any = None


def render(text: str, names: Mapping[str, Any], budget: Budget, signals: tuple[type[Exception], ...] = ()) -> Rendered:
    """Render `text` with `names` under `budget`.

    Raises `VtlSyntaxError`, `BudgetExceeded`, `RenderError` (with the line), or an exception of
    one of the `signals` types as it was raised (`$util.error`, `$util.unauthorized`)."""
    template = compile_template(text)
    stream = airspeed.StoppableStream()
    budget.start()
    _current.budget = budget
    try:
        template.merge_to(dict(names), stream)
    except airspeed.TemplateExecutionError as e:
        cause = e.__cause__
        if isinstance(cause, ReturnSignal):
            return Rendered(returned=True, value=cause.value)
        if isinstance(cause, _BreakSignal):
            return Rendered(text=str(stream.getvalue()))  # #break outside a loop stops the template
        if isinstance(cause, Exception) and isinstance(cause, (BudgetExceeded, *signals)):
            raise cause from None
        line = _line(text, e.start) if e.element.full_text() is text else None
        raise RenderError(_describe(cause), line) from None
    except RecursionError:
        raise RenderError("the template's macros recurse too deeply", None) from None
    finally:
        _current.budget = None
    return Rendered(text=str(stream.getvalue()))


def _describe(cause: BaseException | None) -> str:
    if cause is None:
        return "the template failed"
    if isinstance(cause, MemoryError):
        return f"out of memory: {cause}"
    return f"{type(cause).__name__}: {cause}"
