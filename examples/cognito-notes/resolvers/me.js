// Who is calling: the identity AppSync built from the verified token.
export function request() {
  return { payload: null };
}

export function response(ctx) {
  const { sub, username, groups } = ctx.identity;
  return { sub, username, groups: groups ?? [] };
}
