/**
 * An in-process daemon for the operations tests that need to reach inside
 * (the pool, the events) or to start thousands of accounts quickly: the real
 * startDaemon with the real worker pool, providers and store, against the
 * emulator, its log captured in memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startEmulator, type Emulator } from '../../emulator/index.js';
import { testCaDir } from '../../emulator/testing.js';
import { parseConfig } from '../../src/config/index.js';
import type { Feature } from '../../src/daemon/context.js';
import { startDaemon, type Daemon } from '../../src/daemon/start.js';
import { createLogger } from '../../src/log.js';

export const GOOGLE_CLIENT = 'ops-google-client';
export const GOOGLE_SECRET = 'GOCSPX-ops-test-secret-value';
export const MS_CLIENT = 'ops-ms-client';

export interface InProcessAccount {
  user: string;
  provider: string;
  grant?: boolean;
}

export class LogSink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _e: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }

  lines(): Array<Record<string, unknown>> {
    return this.text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

export interface InProcess {
  emu: Emulator;
  daemon: Daemon;
  dir: string;
  sink: LogSink;
  configText(accounts: InProcessAccount[], extra?: string): string;
  close(): Promise<void>;
}

/** The emulator, a config, the daemon started in this process, and every `grant` account imported. */
export async function startInProcess(opts: {
  accounts: InProcessAccount[];
  features: Feature[];
  workers?: number;
  lifetime?: number;
  /** Extra TOML appended to the config (provider sections). */
  extra?: string;
  emulator?: Emulator;
}): Promise<InProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'mailtokend-ops-'));
  const emu = opts.emulator ?? (await startEmulator({ caDir: testCaDir(), accessTokenLifetime: opts.lifetime ?? 3600 }));
  emu.registerClient({ provider: 'google', clientId: GOOGLE_CLIENT, clientSecret: GOOGLE_SECRET });
  emu.registerClient({ provider: 'microsoft', clientId: MS_CLIENT });
  const configText = (accounts: InProcessAccount[], extra = opts.extra ?? '') =>
    [
      `state_dir = "${join(dir, 'state')}"`,
      `workers = ${opts.workers ?? 2}`,
      'request_timeout = "3s"',
      'log_level = "debug"',
      '[web]',
      'listen = "127.0.0.1:0"',
      '[[socket]]',
      `path = "${join(dir, 'mta.sock')}"`,
      'protocols = ["SMTP"]',
      '[provider.google]',
      `auth_url = "${emu.google.authUrl}"`,
      `token_url = "${emu.google.tokenUrl}"`,
      `revoke_url = "${emu.google.revokeUrl}"`,
      `client_id = "${GOOGLE_CLIENT}"`,
      `client_secret = "${GOOGLE_SECRET}"`,
      '[provider.microsoft]',
      `authority = "${emu.microsoft.authority}"`,
      `client_id = "${MS_CLIENT}"`,
      extra,
      ...accounts.map((a) => `[[account]]\nuser = "${a.user}"\nprovider = "${a.provider}"\n`),
    ].join('\n');
  const file = join(dir, 'config.toml');
  const config = parseConfig(configText(opts.accounts), file, process.env);
  const sink = new LogSink();
  const daemon = await startDaemon(config, createLogger('debug', 'json', sink), process.env, opts.features);
  for (const a of opts.accounts.filter((x) => x.grant !== false)) {
    const type = a.provider.startsWith('google') ? 'google' : 'microsoft';
    const refreshToken = emu.issueGrant(
      type === 'google'
        ? { provider: 'google', user: a.user, clientId: GOOGLE_CLIENT, scopes: ['https://mail.google.com/'] }
        : { provider: 'microsoft', user: a.user, clientId: MS_CLIENT, scopes: ['https://outlook.office.com/SMTP.Send', 'offline_access'] },
    );
    await daemon.context.admin.dispatch({ cmd: 'import', user: a.user, refreshToken });
  }
  return {
    emu,
    daemon,
    dir,
    sink,
    configText,
    async close() {
      await daemon.close();
      if (!opts.emulator) await emu.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
