// Ask the summary function (a Lambda data source) to count the list; it reads the same table.
import { util } from '@aws-appsync/utils';

export function request(ctx) {
  return { operation: 'Invoke', payload: { listId: ctx.args.listId } };
}

export function response(ctx) {
  if (ctx.error) util.error(ctx.error.message, ctx.error.type);
  return ctx.result;
}
