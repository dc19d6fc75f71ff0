// Every resolver's own handlers: nothing before its one function, that function's result after.
export function request() {
  return {};
}

export function response(ctx) {
  return ctx.prev.result;
}
