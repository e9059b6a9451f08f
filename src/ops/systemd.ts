import { spawn } from 'node:child_process';
import type { Logger } from '../log.js';

/** A notification that takes longer than this is given up (systemd-notify waits for PID 1 to read it). */
const NOTIFY_TIMEOUT_MS = 10_000;

type Spawn = typeof spawn;

/**
 * Tells systemd about readiness, reloads and shutdown (`Type=notify`). The
 * protocol is a datagram on the UNIX socket in `$NOTIFY_SOCKET`, which Node
 * cannot send (no AF_UNIX SOCK_DGRAM in `dgram` or `net`), so it is sent by
 * `systemd-notify`, which ships with systemd itself. Because that is a child
 * process and not the main PID, the unit needs `NotifyAccess=all`; and since
 * systemd 246 `systemd-notify` waits until PID 1 has read the message (a
 * notify barrier), so the message is attributed to the unit even though its
 * sender exits right after. Messages are sent one at a time, in order.
 */
export class SystemdNotifier {
  readonly #socket: string | undefined;
  #chain: Promise<void> = Promise.resolve();
  #missing = false;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: Logger,
    private readonly spawnImpl: Spawn = spawn,
  ) {
    this.#socket = env.NOTIFY_SOCKET || undefined;
  }

  /** True when a service manager asked to be notified. */
  get enabled(): boolean {
    return this.#socket !== undefined;
  }

  /** READY=1 with a status line: the sockets accept, the admin socket answers. */
  ready(status: string): Promise<void> {
    return this.send(['--ready', `--pid=${process.pid}`, `--status=${status}`]);
  }

  reloading(): Promise<void> {
    return this.send(['RELOADING=1', 'STATUS=reloading the configuration']);
  }

  stopping(): Promise<void> {
    return this.send(['STOPPING=1', 'STATUS=stopping: answering requests in flight']);
  }

  status(text: string): Promise<void> {
    return this.send([`--status=${text}`]);
  }

  /** Sends `args` with systemd-notify, after every earlier message. Never throws. */
  send(args: string[]): Promise<void> {
    if (!this.enabled || this.#missing) return Promise.resolve();
    this.#chain = this.#chain.then(() => this.#spawn(args));
    return this.#chain;
  }

  #spawn(args: string[]): Promise<void> {
    return new Promise((resolve) => {
      let child;
      try {
        child = this.spawnImpl('systemd-notify', args, { env: { ...this.env, NOTIFY_SOCKET: this.#socket }, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (error) {
        this.#failed(error);
        return resolve();
      }
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), NOTIFY_TIMEOUT_MS);
      child.on('error', (error) => {
        clearTimeout(timer);
        this.#failed(error);
        resolve();
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (code !== 0 && !this.#missing) {
          this.log.warn({ notify: args[0], exitCode: code, error: stderr.trim().slice(0, 200) }, 'systemd-notify failed');
        }
        resolve();
      });
    });
  }

  #failed(error: unknown): void {
    const code = (error as NodeJS.ErrnoException | null)?.code;
    if (code === 'ENOENT') {
      this.#missing = true;
      this.log.error('NOTIFY_SOCKET is set but systemd-notify is not installed: systemd will not see the daemon as ready (install systemd, or use Type=simple)');
      return;
    }
    this.log.warn({ error: error instanceof Error ? error.message : String(error) }, 'systemd-notify could not run');
  }
}
