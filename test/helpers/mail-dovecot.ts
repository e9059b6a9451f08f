/**
 * A real mail server for the client tests: Debian's Dovecot 2.3, started in
 * the foreground with a private config (test/fixtures/mail/dovecot.conf) in a
 * temp dir, IMAP on STARTTLS and implicit-TLS ports and submission on
 * STARTTLS and implicit-TLS ports, all on 127.0.0.1. Its oauth2 passdb asks
 * the provider emulator's /introspect endpoint about every bearer token
 * (XOAUTH2 and OAUTHBEARER): accepted only when the emulator issued it as an
 * access token, it has not expired, its grant is not revoked and it belongs
 * to the user logging in. Submitted mail is relayed to a sink
 * (mail-sink.ts) that records it with the authenticated login.
 *
 * Dovecot is killed at process exit at the latest, even when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueServerCert } from '../../emulator/ca.js';
import type { Emulator } from '../../emulator/index.js';
import { introspections, INTROSPECT_PATH, type Introspection } from '../../emulator/introspect.js';
import { removeDir, tempDir, waitUntil } from './daemon.js';
import { startMailSink, type MailSink } from './mail-sink.js';

export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/mail/', import.meta.url));
const NOBODY = 65534;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** `{{NAME}}` placeholders filled from `values`; an unfilled one is an error. */
export function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for {{${name}}}`);
    return String(value);
  });
}

/** A port nobody listens on right now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Dovecot {
  dir: string;
  /** The CA that signed the server's certificate, readable by everyone (exim runs as Debian-exim). */
  caFile: string;
  ports: { imap: number; imaps: number; submission: number; submissions: number };
  sink: MailSink;
  /** Dovecot's log so far. */
  log(): string;
  /** Successful logins from the log: `{service, user, method}`. */
  logins(): Array<{ service: string; user: string; method: string }>;
  /** What the emulator was asked by Dovecot, oldest first. */
  introspections(): Introspection[];
  /** Puts a message into USER's INBOX (Maildir new/). */
  deliver(user: string, name: string, message: string): void;
  close(): Promise<void>;
}

export async function startDovecot(emu: Emulator, caDir: string): Promise<Dovecot> {
  const dir = tempDir('mailtokend-dovecot-');
  chmodSync(dir, 0o755);
  const sink = await startMailSink();
  let child: ChildProcess | undefined;
  try {
    const { key, cert } = await issueServerCert(caDir);
    writeFileSync(join(dir, 'server.key'), key, { mode: 0o600 });
    writeFileSync(join(dir, 'server.pem'), cert, { mode: 0o644 });
    const caFile = join(dir, 'ca.pem');
    copyFileSync(emu.caFile, caFile);
    chmodSync(caFile, 0o644);
    mkdirSync(join(dir, 'mail'), { mode: 0o755 });
    chownSync(join(dir, 'mail'), NOBODY, NOBODY);
    const ports = { imap: await freePort(), imaps: await freePort(), submission: await freePort(), submissions: await freePort() };
    const values = {
      INSTANCE: `mailtokend-test-${process.pid}-${ports.imap}`,
      DIR: dir,
      IMAP_PORT: ports.imap,
      IMAPS_PORT: ports.imaps,
      SUBMISSION_PORT: ports.submission,
      SUBMISSIONS_PORT: ports.submissions,
      SINK_PORT: sink.port,
      INTROSPECTION_URL: `${emu.url}${INTROSPECT_PATH}`,
    };
    const conf = join(dir, 'dovecot.conf');
    writeFileSync(conf, fill(readFileSync(join(FIXTURES, 'dovecot.conf'), 'utf8'), values));
    writeFileSync(join(dir, 'dovecot-oauth2.conf.ext'), fill(readFileSync(join(FIXTURES, 'dovecot-oauth2.conf.ext'), 'utf8'), values));
    let output = '';
    child = spawn('dovecot', ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (output += c));
    let exited = false;
    const exit = new Promise<void>((resolve) => child!.on('close', () => ((exited = true), live.delete(child!), resolve())));
    const readLog = (): string => {
      try {
        return readFileSync(join(dir, 'dovecot.log'), 'utf8');
      } catch {
        return '';
      }
    };
    await waitUntil(
      'Dovecot to listen',
      async () => {
        if (exited) throw new Error(`dovecot exited:\n${output}\n${readLog()}`);
        return (await greets(ports.imap)) && (await greets(ports.submission));
      },
      15_000,
      100,
    );
    const proc = child;
    return {
      dir,
      caFile,
      ports,
      sink,
      log: readLog,
      logins: () =>
        [...readLog().matchAll(/(imap|submission)-login: (?:Info: )?Login: user=<([^>]*)>.*?method=([A-Za-z0-9-]+)/g)].map((m) => ({ service: m[1]!, user: m[2]!, method: m[3]!.toUpperCase() })),
      introspections: () => introspections(emu.url),
      deliver(user, name, message) {
        const home = join(dir, 'mail', user);
        for (const d of [home, join(home, 'Maildir'), join(home, 'Maildir', 'new'), join(home, 'Maildir', 'cur'), join(home, 'Maildir', 'tmp')]) {
          mkdirSync(d, { recursive: true, mode: 0o700 });
          chownSync(d, NOBODY, NOBODY);
        }
        const file = join(home, 'Maildir', 'new', name);
        writeFileSync(file, message, { mode: 0o600 });
        chownSync(file, NOBODY, NOBODY);
      },
      async close() {
        if (!exited) proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exit;
        clearTimeout(timer);
        await sink.close();
        removeDir(dir);
      },
    };
  } catch (error) {
    child?.kill('SIGKILL');
    await sink.close();
    throw error;
  }
}

/** Whether something on the port sends a greeting line. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1_000, () => done(false));
    s.once('data', () => done(true));
    s.once('error', () => done(false));
  });
}
