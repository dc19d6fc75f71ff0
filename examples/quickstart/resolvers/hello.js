import { util } from '@aws-appsync/utils';

export function request(ctx) {
  const name = ctx.args.name ?? 'world';
  if (name.trim() === '') {
    util.error('name must not be empty', 'ValidationError', null, { field: 'name' });
  }
  return { payload: `Hello, ${name}!` };
}

export function response(ctx) {
  return ctx.result;
}
