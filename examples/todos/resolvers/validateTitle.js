// Pipeline step 1 (NONE data source): refuse an empty or overlong title before anything is written.
import { util } from '@aws-appsync/utils';

export function request(ctx) {
  const title = ctx.args.title.trim();
  if (!title || title.length > 200) {
    util.error('A title needs 1 to 200 characters', 'ValidationError');
  }
  ctx.stash.title = title;
  return { payload: null };
}

export function response(ctx) {
  return ctx.result;
}
