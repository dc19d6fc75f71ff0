// A new note under the caller's sub; ids sort by creation time (a ULID), so a list reads newest first.
import { util } from '@aws-appsync/utils';
import { put } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  const text = ctx.args.text.trim();
  if (text.length === 0) util.error('text must not be empty', 'ValidationError');
  return put({
    key: { owner: ctx.identity.sub, id: util.autoUlid() },
    item: { text, shared: ctx.args.shared ?? false, createdAt: util.time.nowISO8601() },
  });
}

export function response(ctx) {
  if (ctx.error) util.error(ctx.error.message, ctx.error.type);
  return ctx.result;
}
