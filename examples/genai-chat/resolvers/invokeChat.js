import { util } from '@aws-appsync/utils';

const MAX_PROMPT_LENGTH = 4000;
/** Earlier turns kept (20 exchanges); the page sends the newest ones. */
const MAX_HISTORY_TURNS = 40;
/** Characters of prompt and history together, well under Lambda's async payload limit. */
const MAX_CONVERSATION_LENGTH = 100000;

/**
 * Check the conversation so far: Converse needs turns that alternate, start with `user`, and
 * (since the prompt is the next user turn) end with `assistant`, none of them blank.
 */
function checkHistory(history, prompt) {
  if (history.length > MAX_HISTORY_TURNS) {
    util.error(`history must have at most ${MAX_HISTORY_TURNS} turns`, 'ValidationError');
  }
  let length = prompt.length;
  let expected = 'user';
  let index = 0;
  for (const turn of history) {
    if (turn.role !== expected) {
      util.error(`history[${index}] must be a ${expected} turn: turns alternate, starting with user`, 'ValidationError');
    }
    if (turn.text.trim() === '') {
      util.error(`history[${index}] must not be blank`, 'ValidationError');
    }
    length = length + turn.text.length;
    expected = expected === 'user' ? 'assistant' : 'user';
    index = index + 1;
  }
  if (expected !== 'user') {
    util.error('history must end with an assistant turn: the prompt is the next user turn', 'ValidationError');
  }
  if (length > MAX_CONVERSATION_LENGTH) {
    util.error(`prompt and history must be at most ${MAX_CONVERSATION_LENGTH} characters`, 'ValidationError');
  }
}

/**
 * Invoke the chat function asynchronously (`invocationType: 'Event'`): Lambda queues the event
 * and AppSync answers the mutation without waiting for the model.
 */
export function request(ctx) {
  const { conversationId, prompt } = ctx.args;
  const history = ctx.args.history ?? [];
  if (prompt.trim() === '') {
    util.error('prompt must not be empty', 'ValidationError');
  }
  if (prompt.length > MAX_PROMPT_LENGTH) {
    util.error(`prompt must be at most ${MAX_PROMPT_LENGTH} characters`, 'ValidationError');
  }
  checkHistory(history, prompt);
  ctx.stash.requestedAt = util.time.nowISO8601();
  return {
    operation: 'Invoke',
    invocationType: 'Event',
    payload: { conversationId, prompt, history, requestedAt: ctx.stash.requestedAt },
  };
}

/** An Event invocation has no result (`ctx.result` is null): report that the work has started. */
export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return { conversationId: ctx.args.conversationId, status: 'STARTED', requestedAt: ctx.stash.requestedAt };
}
