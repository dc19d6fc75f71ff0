import { util } from '@aws-appsync/utils';

const MAX_PROMPT_LENGTH = 4000;

/**
 * Invoke the chat function asynchronously (`invocationType: 'Event'`): Lambda queues the event
 * and AppSync answers the mutation without waiting for the model.
 */
export function request(ctx) {
  const { conversationId, prompt } = ctx.args;
  if (prompt.trim() === '') {
    util.error('prompt must not be empty', 'ValidationError');
  }
  if (prompt.length > MAX_PROMPT_LENGTH) {
    util.error(`prompt must be at most ${MAX_PROMPT_LENGTH} characters`, 'ValidationError');
  }
  ctx.stash.requestedAt = util.time.nowISO8601();
  return {
    operation: 'Invoke',
    invocationType: 'Event',
    payload: { conversationId, prompt, requestedAt: ctx.stash.requestedAt },
  };
}

/** An Event invocation has no result (`ctx.result` is null): report that the work has started. */
export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return { conversationId: ctx.args.conversationId, status: 'STARTED', requestedAt: ctx.stash.requestedAt };
}
