// Mark a todo done; a todo that does not exist is an error, not a new item.
import { util } from '@aws-appsync/utils';
import { update, operations } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  return update({
    key: { listId: ctx.args.listId, id: ctx.args.id },
    update: { done: operations.replace(true) },
    condition: { id: { attributeExists: true } },
  });
}

export function response(ctx) {
  if (ctx.error) {
    const missing = ctx.error.type === 'DynamoDB:ConditionalCheckFailedException';
    util.error(missing ? `No todo ${ctx.args.id} in list ${ctx.args.listId}` : ctx.error.message, ctx.error.type);
  }
  return ctx.result;
}
