// Newest first, a page at a time: nextToken is DynamoDB's, opaque to the client.
import { util } from '@aws-appsync/utils';
import { query } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  return query({
    query: { listId: { eq: ctx.args.listId } },
    limit: Math.min(ctx.args.limit ?? 20, 100),
    nextToken: ctx.args.nextToken,
    scanIndexForward: false,
  });
}

export function response(ctx) {
  if (ctx.error) util.error(ctx.error.message, ctx.error.type);
  return { items: ctx.result.items, nextToken: ctx.result.nextToken };
}
