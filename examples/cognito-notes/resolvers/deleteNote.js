// Deletes a note and returns it (null when there was none): the caller's own (deleteNote), or anyone's
// for an admin (removeNote, whose schema field admits the admin group only).
import { util } from '@aws-appsync/utils';
import { remove } from '@aws-appsync/utils/dynamodb';

export function request(ctx) {
  return remove({ key: { owner: ctx.args.owner ?? ctx.identity.sub, id: ctx.args.id } });
}

export function response(ctx) {
  if (ctx.error) util.error(ctx.error.message, ctx.error.type);
  return ctx.result;
}
