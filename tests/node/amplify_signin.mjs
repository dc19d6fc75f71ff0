// Amplify v6's Cognito sign-in, unchanged, against appsync-emu's Cognito endpoint
// (`Auth.Cognito.userPoolEndpoint` = the emulator's base URL): signIn with the flow asked for,
// a new password when the user has a temporary one (confirmSignIn), fetchUserAttributes
// (GetUser), a forced token refresh (GetTokensFromRefreshToken) and a global signOut
// (GlobalSignOut, RevokeToken). Every step is printed as one JSON line for the Python test.
//
//   node amplify_signin.mjs <config json> <username> <password> <USER_SRP_AUTH|USER_PASSWORD_AUTH> [new password]
//
// <config json> is {"cognitoEndpoint", "userPoolId", "userPoolClientId"}. A failed sign-in prints
// {"event": "signIn-error", name, message} and exits 0: the test decides whether it should have failed.
import { Amplify } from 'aws-amplify';
import {
  confirmSignIn,
  fetchAuthSession,
  fetchUserAttributes,
  signIn,
  signOut,
} from 'aws-amplify/auth';

const [configText, username, password, authFlowType, newPassword] = process.argv.slice(2);
const config = JSON.parse(configText);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const timer = setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(3);
}, 45000);

Amplify.configure({
  Auth: {
    Cognito: {
      userPoolId: config.userPoolId,
      userPoolClientId: config.userPoolClientId,
      userPoolEndpoint: config.cognitoEndpoint,
    },
  },
});

try {
  let result = await signIn({ username, password, options: { authFlowType } });
  emit({ event: 'signIn', isSignedIn: result.isSignedIn, step: result.nextStep?.signInStep });
  if (result.nextStep?.signInStep === 'CONFIRM_SIGN_IN_WITH_NEW_PASSWORD_REQUIRED' && newPassword) {
    result = await confirmSignIn({ challengeResponse: newPassword });
    emit({ event: 'confirmSignIn', isSignedIn: result.isSignedIn, step: result.nextStep?.signInStep });
  }
  if (!result.isSignedIn) {
    clearTimeout(timer);
    process.exit(0);
  }
} catch (err) {
  emit({ event: 'signIn-error', name: err?.name, message: err?.message });
  clearTimeout(timer);
  process.exit(0);
}

const session = await fetchAuthSession();
emit({
  event: 'session',
  idToken: session.tokens?.idToken?.toString(),
  username: session.tokens?.accessToken?.payload?.username,
  iat: session.tokens?.idToken?.payload?.iat,
});
emit({ event: 'attributes', attributes: await fetchUserAttributes() });
await new Promise((resolve) => setTimeout(resolve, 1100)); // a refreshed token has a later `iat`
const refreshed = await fetchAuthSession({ forceRefresh: true });
emit({
  event: 'refreshed',
  idToken: refreshed.tokens?.idToken?.toString(),
  iat: refreshed.tokens?.idToken?.payload?.iat,
});
await signOut({ global: true });
emit({ event: 'signedOut', tokens: (await fetchAuthSession()).tokens ?? null });
clearTimeout(timer);
