// A page of one owner's notes, newest first: the caller's own (notes), or anyone's for an admin (notesOf).
import { util } from '@aws-appsync/utils';
import { query } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  return query({
    query: { owner: { eq: ctx.args.owner ?? ctx.identity.sub } },
    limit: Math.min(ctx.args.limit ?? 20, 100),
    nextToken: ctx.args.nextToken,
    scanIndexForward: false,
  });
}

export function response(ctx) {
  if (ctx.error) util.error(ctx.error.message, ctx.error.type);
  return { items: ctx.result.items, nextToken: ctx.result.nextToken };
}
