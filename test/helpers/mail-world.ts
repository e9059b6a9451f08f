/**
 * The world the mail-program tests run in: a provider emulator and a running
 * mailtokend (test/helpers/daemon.ts), a real Dovecot checking tokens with the
 * emulator (mail-dovecot.ts), a HOME for alice with `cms-oauth` on PATH, and
 * the doc snippets of doc/smtp.md and doc/imap.md made runnable.
 *
 * Snippets live once, in test/fixtures/mail/, exactly as the docs show them
 * (test/e2e/mail-docs.test.ts checks the docs carry the same text). A test
 * makes one runnable by replacing the real-world names in it: provider hosts
 * and ports become the test Dovecot's, /home/alice the test HOME, and the
 * socket path the daemon's; every replacement must match, so a snippet that
 * changes fails the test instead of silently testing something else.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testCaDir } from '../../emulator/testing.js';
import { CMS_OAUTH, Harness, run, tempDir, waitUntil, type RunResult } from './daemon.js';
import { FIXTURES, startDovecot, type Dovecot } from './mail-dovecot.js';

export const CONTOSO = 'alice@contoso.com';
export const GMAIL = 'alice@gmail.com';
/** Configured in the daemon, but on neither the exim nor the mutt socket. */
export const MALLORY = 'mallory@contoso.com';
/** The socket path the docs use for a user's own programs. */
export const DOC_SOCKET = '/run/user/1000/mailtokend/mutt.sock';

export type Subs = Array<[from: string, to: string]>;

export function snippet(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/** The snippet with each `from` replaced (all occurrences); throws if one does not occur. */
export function materialize(text: string, subs: Subs): string {
  let out = text;
  for (const [from, to] of subs) {
    if (!out.includes(from)) throw new Error(`snippet no longer contains ${JSON.stringify(from)}:\n${out}`);
    out = out.split(from).join(to);
  }
  return out;
}

export interface MailWorld {
  h: Harness;
  dovecot: Dovecot;
  home: string;
  env: NodeJS.ProcessEnv;
  /** Replacements every snippet gets: HOME and the socket. */
  base: Subs;
  /** A snippet with `subs` and the base replacements that apply to it. */
  fill(text: string, subs?: Subs): string;
  /** Waits (briefly: Dovecot's log process writes asynchronously) for a login in Dovecot's log. */
  login(service: 'imap' | 'submission', user: string, method: string): Promise<void>;
  /** Runs a shell snippet (after `subs` and the base ones) in HOME. */
  sh(text: string, subs?: Subs, opts?: { input?: string; uid?: number; gid?: number; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  close(): Promise<void>;
}

export async function startMailWorld(opts: { lifetime?: number; extraToml?: (home: string) => string; beforeStart?: (w: MailWorld) => Promise<void> } = {}): Promise<MailWorld> {
  const h = await Harness.create({
    accounts: [
      { user: CONTOSO, provider: 'microsoft' },
      { user: GMAIL, provider: 'google' },
      { user: MALLORY, provider: 'microsoft' },
    ],
    sockets: [
      { name: 'mutt', protocols: ['SMTP', 'IMAP'], accounts: [CONTOSO, GMAIL] },
      { name: 'mallory', protocols: ['SMTP', 'IMAP'], accounts: [MALLORY] },
    ],
    ...(opts.lifetime !== undefined ? { lifetime: opts.lifetime } : {}),
  });
  let dovecot: Dovecot | undefined;
  try {
    dovecot = await startDovecot(h.emu, testCaDir());
    const home = tempDir('mailtokend-home-');
    chmodSync(home, 0o755);
    const bin = join(home, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'cms-oauth'), `#!/bin/sh\nexec '${process.execPath}' '${CMS_OAUTH}' "$@"\n`, { mode: 0o755 });
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, LC_ALL: 'C.UTF-8' };
    const base: Subs = [
      [DOC_SOCKET, h.socket('mutt')],
      ['/home/alice', home],
    ];
    const world: MailWorld = {
      h,
      dovecot,
      home,
      env,
      base,
      fill: (text, subs = []) => materialize(text, [...subs, ...base.filter(([from]) => text.includes(from))]),
      login: async (service, user, method) => {
        await waitUntil(`${service} login of ${user} with ${method}`, () => dovecot!.logins().some((l) => l.service === service && l.user === user && l.method === method), 3_000).catch((e: Error) => {
          throw new Error(`${e.message}; logins: ${JSON.stringify(dovecot!.logins())}`);
        });
      },
      sh: (text, subs = [], o = {}) => {
        const script = world.fill(text, subs);
        return run('/bin/sh', ['-ec', `cd "$HOME"\n${script}`], { env: { ...env, ...o.env }, input: o.input, timeoutMs: 30_000, ...(o.uid !== undefined ? { uid: o.uid, gid: o.gid } : {}) });
      },
      close: async () => {
        await dovecot?.close();
        await h.close();
      },
    };
    if (opts.extraToml) h.writeConfig(`${h.configText()}\n${opts.extraToml(home)}\n`);
    await opts.beforeStart?.(world);
    await h.start();
    return world;
  } catch (error) {
    await dovecot?.close();
    await h.close();
    throw error;
  }
}

/** The access token in a Dovecot introspection was good: issued by the emulator to `user`, unexpired, not revoked. */
export function checkedTokens(d: Dovecot, user: string): Array<{ token: string; active: boolean }> {
  return d.introspections().filter((i) => i.user === user).map((i) => ({ token: i.token, active: i.active }));
}
