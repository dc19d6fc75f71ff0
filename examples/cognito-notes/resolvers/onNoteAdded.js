// onNoteAdded: a subscriber receives only the notes written under their own sub, whoever else is
// listening. The pipeline's Me function finds the caller; this resolver's response handler sets the
// filter, where AppSync takes a subscription's enhanced filters from.
import { util, extensions } from '@aws-appsync/utils';

export function request() {
  return {};
}

export function response(ctx) {
  extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter({ owner: { eq: ctx.prev.result.sub } }));
  return null;
}
