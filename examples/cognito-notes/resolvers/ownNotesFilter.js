// onNoteAdded: a subscriber receives only the notes written under their own sub, whoever else is listening.
import { util, extensions } from '@aws-appsync/utils';

export function request() {
  return { payload: null };
}

export function response(ctx) {
  extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter({ owner: { eq: ctx.identity.sub } }));
  return null;
}
