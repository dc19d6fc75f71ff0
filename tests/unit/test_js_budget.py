"""Handlers run on the loop thread under a short CPU budget and move to a worker process past it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from appsync_emu.config.model import Code
from appsync_emu.runtimes.base import HandlerStatus
from appsync_emu.runtimes.js.runtime import JsRuntime

SOURCE = """
export function request(ctx) {
  if (ctx.arguments.spin === 'forever') { for (;;) {} }
  let n = 0;
  for (const i of Array(ctx.arguments.spin).keys()) { n = n + i; }
  return { n };
}
export function response(ctx) { return ctx.result; }
"""


def runtime(**kw: float) -> JsRuntime:
    return JsRuntime({"m": Code(SOURCE, Path("m.js"))}, workers=1, **kw)  # type: ignore[arg-type]


async def first_step_leaves_it_running(rt: JsRuntime, spin: object) -> asyncio.Future[Any]:
    """Start a call, let its first step run (the try on the loop's thread), and check that the
    event loop got back control with the call still running elsewhere: the try was stopped at
    the budget, not run to its end on the loop's thread."""
    call = asyncio.ensure_future(rt.call("m", "request", {"arguments": {"spin": spin}}))
    await asyncio.sleep(0)  # the call's first step runs before this test's next one
    assert not call.done(), "the handler ran to its end on the event loop's thread"
    assert rt._budgeted is not None
    inline = rt._budgeted.engine  # the engine of the loop's thread
    assert inline.cpu_limit_s == rt._inline_budget_s and inline.interrupted, "the try was not stopped at the budget"
    return call


async def test_a_quick_handler_answers_without_a_thread_hop() -> None:
    rt = runtime(inline_budget_s=0.05)
    try:
        result = await rt.call("m", "request", {"arguments": {"spin": 10}})
        assert result.status is HandlerStatus.OK and result.value == {"n": 45}
    finally:
        rt.close()


async def test_a_handler_over_the_budget_is_rerun_on_a_worker_thread_and_succeeds() -> None:
    rt = runtime(inline_budget_s=0.005, cpu_limit_s=5.0)
    try:
        result = await (await first_step_leaves_it_running(rt, 3_000_000))
        assert result.status is HandlerStatus.OK and result.value == {"n": 3_000_000 * 2_999_999 // 2}
    finally:
        rt.close()


async def test_an_endless_handler_blocks_the_loop_only_for_the_budget_and_fails_at_the_full_limit() -> None:
    rt = runtime(inline_budget_s=0.01, cpu_limit_s=0.5)
    try:
        result = await (await first_step_leaves_it_running(rt, "forever"))
        assert result.status is HandlerStatus.RUNTIME_ERROR
        assert result.error is not None
        assert "0.5 s of CPU time" in result.error.message, "stopped at the full limit, not the budget"
        again = await rt.call("m", "request", {"arguments": {"spin": 3}})
        assert again.value == {"n": 3}
    finally:
        rt.close()


def test_each_calls_cpu_limit_is_its_own_even_when_others_run_at_the_same_time() -> None:
    """quickjs counts the CPU of its whole process: two busy handlers in one process would stop each other early."""
    calibrate = JsRuntime({"m": Code(SOURCE, Path("m.js"))}, workers=0)
    spin = 200_000
    started = time.thread_time()
    assert calibrate.call_blocking("m", "request", {"arguments": {"spin": spin}}).status is HandlerStatus.OK
    per_spin = (time.thread_time() - started) / spin
    calibrate.close()
    limit = 1.0
    heavy = int(0.6 * limit / per_spin)  # each call needs ~60% of its limit; two together ~120% of one clock
    rt = JsRuntime({"m": Code(SOURCE, Path("m.js"))}, workers=2, cpu_limit_s=limit)

    async def both() -> list[HandlerStatus]:
        calls = [rt.call("m", "request", {"arguments": {"spin": heavy}}) for _ in range(2)]
        return [r.status for r in await asyncio.gather(*calls)]

    try:
        assert asyncio.run(both()) == [HandlerStatus.OK, HandlerStatus.OK]
    finally:
        rt.close()
