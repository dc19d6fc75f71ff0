// A note by its link (owner + id), only if its owner shared it: the same null for "private" and "missing".
import { util } from '@aws-appsync/utils';
import { get } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  return get({ key: { owner: ctx.args.owner, id: ctx.args.id } });
}

export function response(ctx) {
  if (ctx.error) util.error(ctx.error.message, ctx.error.type);
  return ctx.result?.shared ? ctx.result : null;
}
