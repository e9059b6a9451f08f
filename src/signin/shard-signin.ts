import { normalizeUser } from '../config/patterns.js';
import type { ProviderConfig } from '../config/types.js';
import type { AccountSpec, DeviceStartResult, SignInOutcome, SignInTask, SignInUrlResult } from '../host/messages.js';
import type { ShardHost } from '../host/shard-host.js';
import { createAuthorizer, expectedIdentity, GOOGLE_DEVICE_UNSUPPORTED, type Authorized, type Authorizer, type DeviceCancel } from '../providers/authorize.js';
import { ProviderError } from '../providers/errors.js';
import { providerAccount } from '../host/provider-account.js';

interface DeviceFlow {
  key: string;
  cancel: DeviceCancel;
  done: Promise<SignInOutcome>;
}

/**
 * The worker side of signing in: builds the provider URL, redeems codes and
 * runs device flows for the accounts of one shard, all through the
 * providers' libraries. A new grant is stored and handed to the account's
 * actor only when the provider accepted the sign-in and it was the right
 * person who signed in; anything else leaves the account as it was.
 */
export class ShardSignIn {
  readonly #authorizers = new Map<string, { fingerprint: string; authorizer: Authorizer }>();
  readonly #flows = new Map<string, DeviceFlow>();

  constructor(private readonly host: ShardHost) {}

  async handle(task: SignInTask): Promise<SignInOutcome | SignInUrlResult | DeviceStartResult> {
    const spec = this.host.spec(task.key);
    if (!spec) return failure('unknown-account', `${task.key} is not configured`, 'unknown');
    switch (task.op) {
      case 'signin-url':
        return this.#url(spec, task.redirectUri, task.state, task.codeChallenge);
      case 'signin-redeem':
        return this.#redeem(spec, task.code, task.redirectUri, task.codeVerifier);
      case 'device-start':
        return this.#deviceStart(spec, task.flow);
      case 'device-wait':
        return this.#deviceWait(task.flow);
      case 'device-cancel':
        return this.#deviceCancel(task.flow);
    }
  }

  async #url(spec: AccountSpec, redirectUri: string, state: string, codeChallenge: string): Promise<SignInUrlResult> {
    try {
      const url = await this.#authorizer(spec.provider).authorizeUrl({ account: providerAccount(spec), redirectUri, state, codeChallenge }, neverAborted());
      return { ok: true, url };
    } catch (error) {
      return fromError(error);
    }
  }

  async #redeem(spec: AccountSpec, code: string, redirectUri: string, codeVerifier: string): Promise<SignInOutcome> {
    let authorized: Authorized;
    try {
      authorized = await this.#authorizer(spec.provider).redeem({ account: providerAccount(spec), code, redirectUri, codeVerifier }, neverAborted());
    } catch (error) {
      return fromError(error);
    }
    return this.#accept(spec, authorized);
  }

  #deviceStart(spec: AccountSpec, flowId: string): Promise<DeviceStartResult> {
    const authorizer = this.#authorizer(spec.provider);
    if (!authorizer.deviceCode) return Promise.resolve(failure('device-unsupported', GOOGLE_DEVICE_UNSUPPORTED, 'unknown'));
    // One device sign-in per account: a new one replaces any still polling.
    for (const [id, flow] of this.#flows) {
      if (flow.key === spec.key) {
        flow.cancel.cancel = true;
        this.#flows.delete(id);
      }
    }
    const deviceCode = authorizer.deviceCode.bind(authorizer);
    return new Promise<DeviceStartResult>((resolve) => {
      const cancel: DeviceCancel = { cancel: false };
      const done = deviceCode(providerAccount(spec), (prompt) => resolve({ ok: true, prompt }), cancel).then(
        (authorized) => this.#accept(spec, authorized),
        (error: unknown) => fromError(error),
      );
      // Failing before a code was shown (devicecode endpoint refused): that is the answer.
      void done.then((outcome) => resolve(outcome));
      this.#flows.set(flowId, { key: spec.key, cancel, done });
    });
  }

  async #deviceWait(flowId: string): Promise<SignInOutcome> {
    const flow = this.#flows.get(flowId);
    if (!flow) return failure('signin-unknown', 'no such device sign-in in this worker (it ended, was replaced, or the worker restarted)', 'unknown');
    try {
      return await flow.done;
    } finally {
      if (this.#flows.get(flowId) === flow) this.#flows.delete(flowId);
    }
  }

  #deviceCancel(flowId: string): SignInOutcome {
    const flow = this.#flows.get(flowId);
    if (flow) flow.cancel.cancel = true;
    return failure('cancelled', 'the device sign-in was cancelled', 'unknown');
  }

  /** The grant is stored only for the identity the account belongs to. */
  async #accept(spec: AccountSpec, authorized: Authorized): Promise<SignInOutcome> {
    const expected = expectedIdentity(providerAccount(spec));
    if (authorized.identity !== undefined && normalizeUser(authorized.identity) !== normalizeUser(expected)) {
      return failure(
        'wrong-account',
        `signed in as ${authorized.identity}, but this sign-in was for ${expected}; sign in again as ${expected}`,
        'unknown',
        authorized.identity,
      );
    }
    const state = await this.host.authorized(spec.key, authorized.refreshToken, authorized.accessToken, authorized.expiresInMs);
    return { ok: true, code: 'ok', message: `${spec.user} is signed in`, state, ...(authorized.identity !== undefined && { identity: authorized.identity }) };
  }

  #authorizer(config: ProviderConfig): Authorizer {
    const fingerprint = JSON.stringify(config);
    const current = this.#authorizers.get(config.name);
    if (current && current.fingerprint === fingerprint) return current.authorizer;
    const authorizer = createAuthorizer(config);
    this.#authorizers.set(config.name, { fingerprint, authorizer });
    return authorizer;
  }
}


function neverAborted(): AbortSignal {
  return new AbortController().signal;
}

function failure(code: string, message: string, state: SignInOutcome['state'], identity?: string): SignInOutcome {
  return { ok: false, code, message, state, ...(identity !== undefined && { identity }) };
}

/** Provider errors carry the provider's code and a one-line, secret-free message. */
function fromError(error: unknown): SignInOutcome {
  if (error instanceof ProviderError) return failure(error.providerCode, error.message, 'unknown');
  return failure('internal', error instanceof Error ? error.message : 'sign-in failed', 'unknown');
}
