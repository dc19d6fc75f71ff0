// The addTodo pipeline's own handlers: nothing before, the last step's result after.
export function request() {
  return {};
}

export function response(ctx) {
  return ctx.prev.result;
}
