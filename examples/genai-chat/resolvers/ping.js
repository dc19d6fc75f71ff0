export function request() {
  return { payload: 'pong' };
}

export function response(ctx) {
  return ctx.result;
}
