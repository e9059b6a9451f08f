/**
 * Brings a bench store to what a daemon that ran before leaves behind: every
 * grant with an access token from one refresh at the emulator's token
 * endpoint (and the rotated refresh token, where the provider rotated it).
 * Plain form posts over HTTPS, not the provider libraries: only the state of
 * the store matters here, and 50,000 msal-node refreshes would take minutes.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { Emulator } from '../emulator/index.js';
import { loadStoreKey, openFileStore } from '../src/store/index.js';
import type { BenchAccount, BenchConfig } from './setup.js';

interface TokenReply {
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
}

function post(agent: Agent, ca: Buffer, url: string, form: Record<string, string>): Promise<TokenReply> {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, ca, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(new Error(`token endpoint answered ${res.statusCode}`));
        resolve(JSON.parse(text) as TokenReply);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function storeAccessTokens(
  emu: Emulator,
  config: BenchConfig,
  accounts: BenchAccount[],
  env: NodeJS.ProcessEnv,
  clients: { google: { id: string; secret: string }; microsoft: { id: string } },
): Promise<void> {
  const { key } = await loadStoreKey({ stateDir: config.stateDir, env });
  const store = await openFileStore({ dir: config.stateDir, key });
  // No keep-alive: the emulator may close an idle connection just as a request goes out on it.
  const agent = new Agent({ keepAlive: false, maxSockets: 16 });
  const ca = readFileSync(emu.caFile);
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < accounts.length) {
        const a = accounts[next++]!;
        const user = a.user.toLowerCase();
        const grant = await store.load(user);
        if (!grant) throw new Error(`no grant stored for ${user}`);
        const reply =
          a.provider === 'google'
            ? await post(agent, ca, emu.google.tokenUrl, { grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: clients.google.id, client_secret: clients.google.secret })
            : await post(agent, ca, `${emu.microsoft.authority}/common/oauth2/v2.0/token`, {
                grant_type: 'refresh_token',
                refresh_token: grant.refreshToken,
                client_id: clients.microsoft.id,
                scope: grant.scopes.join(' '),
              });
        if (!reply.access_token || typeof reply.expires_in !== 'number') throw new Error(`no access token for ${user}`);
        const now = Date.now();
        const lifetimeMs = reply.expires_in * 1000;
        await store.save(user, {
          provider: grant.provider,
          refreshToken: reply.refresh_token ?? grant.refreshToken,
          scopes: [...grant.scopes],
          access: { accessToken: reply.access_token, expiresAt: now + lifetimeMs, lifetimeMs, refreshedAt: now },
        });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    agent.destroy();
    await store.close();
  }
}
