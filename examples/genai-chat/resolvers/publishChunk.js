/**
 * A local (NONE) resolver: the arguments are the chunk. Returning them is what publishes them
 * to `onChunk` subscribers, filtered by `conversationId`.
 */
export function request(ctx) {
  return { payload: ctx.args };
}

export function response(ctx) {
  return ctx.result;
}
