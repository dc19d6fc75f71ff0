import { util } from '@aws-appsync/utils';
import { remove } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  return remove({ key: { listId: ctx.args.listId, id: ctx.args.id } });
}

export function response(ctx) {
  if (ctx.error) util.error(ctx.error.message, ctx.error.type);
  return ctx.result;
}
