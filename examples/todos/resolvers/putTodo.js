// Pipeline step 2: write the new todo; ids sort by creation time (a ULID), so a list reads newest first.
import { util } from '@aws-appsync/utils';
import { put } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  const item = { title: ctx.stash.title, done: false, createdAt: util.time.nowISO8601() };
  return put({
    key: { listId: ctx.args.listId, id: util.autoUlid() },
    item,
    condition: { id: { attributeExists: false } },
  });
}

export function response(ctx) {
  if (ctx.error) util.error(ctx.error.message, ctx.error.type);
  return ctx.result;
}
