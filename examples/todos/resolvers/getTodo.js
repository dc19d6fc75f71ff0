import { get } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  return get({ key: { listId: ctx.args.listId, id: ctx.args.id } });
}

export function response(ctx) {
  return ctx.result;
}
