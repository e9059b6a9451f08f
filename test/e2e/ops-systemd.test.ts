/**
 * systemd readiness (Type=notify) with the built daemon and the real
 * `systemd-notify`, against a stand-in NOTIFY_SOCKET (a UNIX datagram socket
 * read by perl): READY=1 comes only once every MTA socket and the admin
 * socket accept; a reload is framed by RELOADING=1 and READY=1; shutdown
 * says STOPPING=1; a daemon that cannot bind its sockets never says READY=1.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { adminRequest } from '../../src/admin/client.js';
import { DaemonProcess, Harness, MAILTOKEND, sendRaw, tokenInXoauth2, waitUntil } from '../helpers/daemon.js';
import { NOTIFY_RECEIVER_PERL } from '../helpers/ops.js';

const ALICE = 'alice@gmail.test';
const BOB = 'bob@contoso.test';

let h: Harness;

test.before(async () => {
  h = await Harness.create({
    accounts: [
      { user: ALICE, provider: 'google' },
      { user: BOB, provider: 'microsoft' },
    ],
    sockets: [
      { name: 'mta', protocols: ['SMTP'] },
      { name: 'mua', protocols: ['IMAP'] },
    ],
  });
});

test.after(async () => {
  await h?.close();
});

/** The notify socket: every datagram as a line, and what the daemon could do when each arrived. */
class NotifyReceiver {
  readonly path: string;
  readonly messages: Array<{ text: string; socketsAnswered?: boolean }> = [];
  readonly #child: ChildProcess;
  #onMessage: (text: string) => Promise<boolean> = async () => false;

  constructor(dir: string, name: string) {
    this.path = join(dir, `${name}.notify`);
    this.#child = spawn('perl', ['-e', NOTIFY_RECEIVER_PERL, this.path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffer = '';
    this.#child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line === 'listening') continue;
        const entry: { text: string; socketsAnswered?: boolean } = { text: line };
        this.messages.push(entry);
        if (line.includes('READY=1')) void this.#onMessage(line).then((ok) => (entry.socketsAnswered = ok));
      }
    });
  }

  /** Resolves once the socket file exists (perl bound it). */
  async ready(): Promise<void> {
    await waitUntil('notify receiver', () => isSocket(this.path), 5_000, 20);
  }

  /** What to check at the moment READY=1 arrives. */
  onReady(check: (text: string) => Promise<boolean>): void {
    this.#onMessage = check;
  }

  texts(): string[] {
    return this.messages.map((m) => m.text);
  }

  close(): void {
    this.#child.kill('SIGKILL');
  }
}

function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

function spawnWithNotify(notifySocket: string): DaemonProcess {
  const child = spawn(process.execPath, [MAILTOKEND, 'serve', '-c', h.configPath], { env: h.env({ NOTIFY_SOCKET: notifySocket }), stdio: ['ignore', 'pipe', 'pipe'] });
  const daemon = new DaemonProcess(child);
  h.runs.push(daemon);
  return daemon;
}

test('READY=1 only once the MTA sockets and the admin socket accept; RELOADING=1/READY=1 on reload; STOPPING=1 on shutdown', async () => {
  const notify = new NotifyReceiver(h.dir, 'ok');
  try {
    await notify.ready();
    notify.onReady(async () => {
      // Right when systemd would let `systemctl start` return: every socket must already answer.
      const [a, b] = await Promise.all([sendRaw(h.socket('mta'), `SMTP ${ALICE}`), sendRaw(h.socket('mua'), `IMAP ${BOB}`)]);
      const ping = await adminRequest(h.adminSocket, { cmd: 'ping' }, 5_000);
      return tokenInXoauth2(a.bytes, ALICE) !== undefined && tokenInXoauth2(b.bytes, BOB) !== undefined && ping.ok;
    });
    const daemon = spawnWithNotify(notify.path);
    h.daemon = daemon;
    await waitUntil('READY=1', () => notify.messages.find((m) => m.text.includes('READY=1') && m.socketsAnswered !== undefined), 20_000);
    const ready = notify.messages.find((m) => m.text.includes('READY=1'))!;
    assert.ok(ready.socketsAnswered, 'every socket answered when READY=1 arrived');
    assert.match(ready.text, /STATUS=serving 2 accounts on 2 sockets/);
    assert.match(ready.text, new RegExp(`MAINPID=${daemon.pid}`));
    assert.is(daemon.logged({ msg: 'ready' }).length, 1);

    const reload = await h.cli(['reload']);
    assert.is(reload.code, 0, reload.stderr);
    await waitUntil('second READY=1', () => notify.texts().filter((t) => t.includes('READY=1')).length === 2, 5_000);
    const texts = notify.texts();
    const reloading = texts.findIndex((t) => t.includes('RELOADING=1'));
    assert.ok(reloading > 0 && texts.slice(reloading + 1).some((t) => t.includes('READY=1')), texts.join(' | '));

    const down = await h.cli(['shutdown']);
    assert.is(down.code, 0, down.stderr);
    assert.is((await daemon.exited).code, 0);
    assert.ok(notify.texts().some((t) => t.includes('STOPPING=1')), notify.texts().join(' | '));
    assert.not.match(daemon.output, /systemd-notify (failed|could not run)|not installed/);
  } finally {
    notify.close();
  }
});

test('a daemon that cannot take its sockets never reports READY=1', async () => {
  const notify = new NotifyReceiver(h.dir, 'busy');
  // Someone else answers on the MTA socket path.
  const squatter = createServer((c) => c.end());
  await new Promise<void>((resolve) => squatter.listen(h.socket('mta'), resolve));
  try {
    await notify.ready();
    const daemon = spawnWithNotify(notify.path);
    const exit = await daemon.exited;
    assert.is.not(exit.code, 0);
    assert.match(daemon.stderr, /socket-in-use/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.not.ok(notify.texts().some((t) => t.includes('READY=1')), notify.texts().join(' | '));
  } finally {
    squatter.close();
    notify.close();
  }
});

test.run();
