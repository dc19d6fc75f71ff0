import { util } from '@aws-appsync/utils';

export function request(ctx) {
  const { room, author, text } = ctx.args;
  console.log(`message from ${author} to ${room}`);
  return {
    payload: { id: util.autoId(), room, author, text, createdAt: util.time.nowISO8601() },
  };
}

export function response(ctx) {
  return ctx.result;
}
