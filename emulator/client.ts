/**
 * Client of the admin API for processes that did not start the emulator
 * (e2e tests that run the daemon and the emulator CLI as children, the
 * demo). Same operations as the Emulator object, asynchronous.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { ClientRegistration, Fault, GrantRequest, IssuedToken, RevokeOptions, SignInMode, Stats } from './types.js';

export class EmulatorClient {
  private readonly ca: string;

  /** `url` as the CLI printed it; `caFile` is the CA PEM (not needed when NODE_EXTRA_CA_CERTS names it). */
  constructor(
    readonly url: string,
    caFile?: string,
  ) {
    this.ca = caFile ? readFileSync(caFile, 'utf8') : '';
  }

  private call<T>(method: 'GET' | 'POST', action: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.url}/_emulator/${action}`,
        {
          method,
          ...(this.ca ? { ca: this.ca } : {}),
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              return reject(new Error(`emulator admin ${action}: HTTP ${res.statusCode}, not JSON`));
            }
            if (res.statusCode !== 200) {
              const d = (parsed as { error_description?: string }).error_description ?? '';
              return reject(new Error(`emulator admin ${action}: HTTP ${res.statusCode} ${d}`));
            }
            resolve(parsed as T);
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async registerClient(c: ClientRegistration): Promise<void> {
    await this.call('POST', 'register-client', c);
  }

  async issueGrant(g: GrantRequest): Promise<string> {
    return (await this.call<{ refreshToken: string }>('POST', 'issue-grant', g)).refreshToken;
  }

  async revokeUser(user: string, opts: RevokeOptions = {}): Promise<void> {
    await this.call('POST', 'revoke-user', { user, ...opts });
  }

  async setFault(f: Fault): Promise<string> {
    return (await this.call<{ id: string }>('POST', 'fault', { fault: f })).id;
  }

  async clearFaults(): Promise<void> {
    await this.call('POST', 'clear-faults', {});
  }

  async clearFault(id: string): Promise<void> {
    await this.call('POST', 'clear-fault', { id });
  }

  async lookupToken(token: string): Promise<IssuedToken | undefined> {
    return (await this.call<{ token: IssuedToken | null }>('POST', 'lookup', { token })).token ?? undefined;
  }

  async isValidAccessToken(token: string, user?: string): Promise<boolean> {
    return (await this.call<{ validAccess: boolean }>('POST', 'lookup', { token, user })).validAccess;
  }

  async secrets(): Promise<string[]> {
    return (await this.call<{ secrets: string[] }>('GET', 'secrets')).secrets;
  }

  stats(): Promise<Stats> {
    return this.call<Stats>('GET', 'stats');
  }

  async resetStats(): Promise<void> {
    await this.call('POST', 'reset-stats', {});
  }

  async setSignInMode(user: string, mode: SignInMode): Promise<void> {
    await this.call('POST', 'sign-in-mode', { user, mode });
  }

  async approveDevice(userCode: string, user: string, opts: { deny?: boolean } = {}): Promise<void> {
    await this.call('POST', 'approve-device', { userCode, user, deny: opts.deny === true });
  }

  async setDeviceUser(user: string | undefined): Promise<void> {
    await this.call('POST', 'device-user', { user: user ?? null });
  }
}
