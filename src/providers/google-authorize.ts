import { CodeChallengeMethod, OAuth2Client } from 'google-auth-library';
import { checkAuthorized, expectedIdentity, identityOf, type Authorized, type AuthorizeUrlRequest, type Authorizer, type RedeemRequest } from './authorize.js';
import { abortable, classifyGoogleError } from './google.js';
import { googleScopes } from './scopes.js';
import type { ProviderAccount } from './types.js';

export interface GoogleAuthorizeSettings {
  authUrl: string;
  tokenUrl: string;
}

/**
 * `openid email` come along with Gmail's scope so the id_token names who
 * signed in: a grant of the wrong Google account is refused instead of
 * stored under another address.
 */
const IDENTITY_SCOPES = ['openid', 'email'];

/**
 * Google sign-ins through google-auth-library's OAuth2Client:
 * `generateAuthUrl` (which adds neither PKCE nor offline access by itself,
 * so both are asked for here, with `prompt=consent` so a refresh token comes
 * back even for a user who consented before) and `getToken`.
 */
export class GoogleAuthorizer implements Authorizer {
  readonly #settings: GoogleAuthorizeSettings;

  constructor(settings: GoogleAuthorizeSettings) {
    this.#settings = settings;
  }

  async authorizeUrl(request: AuthorizeUrlRequest): Promise<string> {
    return this.#client(request.account, request.redirectUri).generateAuthUrl({
      access_type: 'offline',
      prompt: 'consent',
      scope: [...googleScopes(), ...IDENTITY_SCOPES],
      state: request.state,
      code_challenge: request.codeChallenge,
      code_challenge_method: CodeChallengeMethod.S256,
      login_hint: expectedIdentity(request.account),
      redirect_uri: request.redirectUri,
    });
  }

  async redeem(request: RedeemRequest, signal: AbortSignal): Promise<Authorized> {
    const client = this.#client(request.account, request.redirectUri);
    try {
      // OAuth2Client takes no AbortSignal: race it, bounded like every provider call.
      const { tokens } = await bounded(
        client.getToken({ code: request.code, codeVerifier: request.codeVerifier, redirect_uri: request.redirectUri }),
        signal,
      );
      const identity = identityOf(tokens.id_token, 'email');
      return checkAuthorized({
        accessToken: tokens.access_token ?? undefined,
        expiresInMs: typeof tokens.expiry_date === 'number' ? tokens.expiry_date - Date.now() : undefined,
        refreshToken: tokens.refresh_token ?? undefined,
        scopes: typeof tokens.scope === 'string' ? tokens.scope.split(' ') : googleScopes(),
        ...(identity ? { identity } : {}),
      });
    } catch (error) {
      throw classifyGoogleError(error, Date.now());
    }
  }

  #client(account: ProviderAccount, redirectUri: string): OAuth2Client {
    return new OAuth2Client({
      clientId: account.clientId,
      clientSecret: account.clientSecret,
      redirectUri,
      endpoints: { oauth2TokenUrl: this.#settings.tokenUrl, oauth2AuthBaseUrl: this.#settings.authUrl },
    });
  }
}

function bounded<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return abortable(work, signal, 'sign-in cancelled');
}
