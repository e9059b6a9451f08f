import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { adminCall } from '../admin/client.js';
import { MailtokendError } from '../errors.js';
import type { AttemptStatus } from '../signin/attempts.js';
import type { StartedSignIn } from '../signin/signin.js';
import { configPathFrom, EXIT, readConfig, UsageError } from './context.js';

export const LOGIN_HELP = `usage: mailtokend login USER [--device | --paste] [--no-browser] [--config FILE]

Sign USER in through the running daemon and wait until it is signed in or
the attempt fails (10 minutes at most).

  (default)     print the provider's sign-in URL and open it in a browser
                ($BROWSER, else xdg-open when a display is present). The
                provider sends the browser back to the daemon's web listener
                ([web] listen, default 127.0.0.1:8080). From another machine,
                tunnel it first: ssh -L 8080:127.0.0.1:8080 THIS-HOST
  --paste       for a machine without a browser: open the printed URL on any
                machine, sign in, then paste the address the browser ended on
                (the page may fail to load; the address is what matters)
  --device      Microsoft only: print a code to enter at the provider's device
                page on any machine. (Google does not allow Gmail's scope in
                the device flow: use --paste.)
  --no-browser  print the URL, do not open a browser

Exit status: 0 signed in, 1 the sign-in failed, 69 no daemon is running.`;

/** One long-poll per request; the daemon answers after at most this long. */
const WAIT_SLICE_MS = 20_000;

type Out = (text: string) => void;

export async function login(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      device: { type: 'boolean' },
      paste: { type: 'boolean' },
      'no-browser': { type: 'boolean' },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('login takes exactly one USER');
  if (values.device && values.paste) throw new UsageError('--device and --paste exclude each other');
  const user = positionals[0]!;
  const mode = values.device ? 'device' : values.paste ? 'paste' : 'browser';
  const config = await readConfig(configPathFrom(values.config, env), env);
  const admin = config.adminSocket;
  const out: Out = (text) => process.stdout.write(text);
  const note: Out = (text) => process.stderr.write(text);

  const started = await adminCall<StartedSignIn & Record<string, unknown>>(admin, { cmd: 'login-start', user, mode });
  const cancel = () => {
    void adminCall(admin, { cmd: 'login-cancel', id: started.id }, 5_000)
      .catch(() => undefined)
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);

  let result: AttemptStatus;
  if (mode === 'device') {
    out(`${started.message ?? `To sign in, open ${started.verificationUri} and enter the code ${started.userCode}.`}\n`);
    out(`  page: ${started.verificationUri}\n  code: ${started.userCode}\n`);
    note(`Sign in there as ${user}, from any machine. Waiting (the code expires in ${minutes(started.expiresAt)}; Ctrl-C gives up)…\n`);
    result = await waitFor(admin, started.id);
  } else if (mode === 'paste') {
    out(`Open this URL in a browser on any machine and sign in as ${user}:\n\n  ${started.url}\n\n`);
    note(
      `The provider then sends the browser to ${started.redirectUri}. That page may fail to load there:\n` +
        `copy the whole address from the browser's address bar and paste it here, then press Enter.\n`,
    );
    result = await pasteOrWait(admin, started.id);
  } else {
    out(`Sign ${user} in at this URL:\n\n  ${started.url}\n\n`);
    const opened = values['no-browser'] ? undefined : openBrowser(started.url!, env);
    if (opened) note(`Opened it with ${opened}.\n`);
    else {
      note(
        `No browser opened here${env.DISPLAY || env.WAYLAND_DISPLAY || process.platform === 'darwin' ? '' : ' (no display)'}: open the URL yourself.\n` +
          `The provider sends the browser back to ${started.redirectUri}, which must reach this daemon:\n` +
          `from another machine use an SSH tunnel (ssh -L PORT:127.0.0.1:PORT THIS-HOST), or run: mailtokend login --paste ${user}\n`,
      );
    }
    note(`Waiting for the sign-in (up to ${minutes(started.expiresAt)}; Ctrl-C gives up)…\n`);
    result = await waitFor(admin, started.id);
  }
  process.off('SIGINT', cancel);
  process.off('SIGTERM', cancel);
  return report(result, out, note);
}

function report(result: AttemptStatus, out: Out, note: Out): number {
  if (result.status === 'ok') {
    out(`${result.user}: signed in${result.identity && result.identity.toLowerCase() !== result.user.toLowerCase() ? ` (as ${result.identity})` : ''}; tokens are served now\n`);
    return EXIT.ok;
  }
  note(`mailtokend: ${result.user}: sign-in failed: ${result.message ?? 'unknown reason'} [${result.code ?? 'failed'}]\n`);
  if (result.code === 'AADSTS53003' || result.code === 'AADSTS50076' || result.code === 'AADSTS50079') {
    note('Conditional Access blocked or challenged this sign-in: see doc/signin.md (Microsoft Conditional Access).\n');
  }
  return EXIT.failure;
}

async function waitFor(admin: string, id: string, stop?: { done: boolean }): Promise<AttemptStatus> {
  for (;;) {
    const { attempt } = await adminCall<{ attempt: AttemptStatus }>(admin, { cmd: 'login-wait', id, waitMs: WAIT_SLICE_MS }, WAIT_SLICE_MS + 15_000);
    if (attempt.status !== 'pending' || stop?.done) return attempt;
  }
}

/** Reads pasted lines until one is accepted, while also watching for the sign-in finishing another way (a tunnel). */
async function pasteOrWait(admin: string, id: string): Promise<AttemptStatus> {
  const stop = { done: false };
  const lines = createInterface({ input: process.stdin, terminal: false });
  const pasted = (async (): Promise<AttemptStatus | undefined> => {
    for await (const line of lines) {
      if (line.trim() === '') continue;
      try {
        const { attempt } = await adminCall<{ attempt: AttemptStatus }>(admin, { cmd: 'login-paste', id, url: line });
        return attempt;
      } catch (error) {
        if (!(error instanceof MailtokendError) || error.code !== 'signin-bad-paste') throw error;
        process.stderr.write(`${error.message}\n`);
      }
    }
    return undefined;
  })();
  const waited = waitFor(admin, id, stop);
  // End of input without a paste: keep waiting (the redirect may still arrive through a tunnel).
  const first = await Promise.race([pasted.then((a) => a ?? waited), waited]);
  stop.done = true;
  // A refused paste leaves nothing to wait for: end the attempt, which also answers the pending wait.
  if (first.status !== 'ok') await adminCall(admin, { cmd: 'login-cancel', id }, 5_000).catch(() => undefined);
  lines.close();
  process.stdin.destroy();
  return first;
}

function minutes(at: number): string {
  const m = Math.max(1, Math.round((at - Date.now()) / 60_000));
  return `${m} minute${m === 1 ? '' : 's'}`;
}

/**
 * `$BROWSER` (first of a colon-separated list; `%s` stands for the URL,
 * else it is appended), else `xdg-open` where a display is (`open` on
 * macOS). Run without a shell; its output is not ours to show.
 */
export function openBrowser(url: string, env: NodeJS.ProcessEnv): string | undefined {
  let argv: string[] | undefined;
  const browser = env.BROWSER?.split(':').map((s) => s.trim()).find((s) => s !== '');
  if (browser) {
    const words = browser.split(/\s+/);
    argv = words.some((w) => w.includes('%s')) ? words.map((w) => w.replaceAll('%s', url)) : [...words, url];
  } else if (process.platform === 'darwin') {
    argv = ['open', url];
  } else if ((env.DISPLAY || env.WAYLAND_DISPLAY) && onPath('xdg-open', env)) {
    argv = ['xdg-open', url];
  }
  if (!argv || !runnable(argv[0]!, env)) return undefined;
  try {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
    return argv[0];
  } catch {
    return undefined;
  }
}

function runnable(program: string, env: NodeJS.ProcessEnv): boolean {
  if (!program.includes('/')) return onPath(program, env);
  try {
    accessSync(program, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}
