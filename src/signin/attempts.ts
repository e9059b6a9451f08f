import { randomBytes } from 'node:crypto';

export type SignInMode = 'browser' | 'paste' | 'device';

/** What `mailtokend login` is told: still waiting, or how it ended. */
export interface AttemptStatus {
  id: string;
  user: string;
  mode: SignInMode;
  status: 'pending' | 'ok' | 'failed';
  code?: string;
  message?: string;
  identity?: string;
}

interface Attempt extends AttemptStatus {
  key: string;
  expiresAt: number;
  waiters: Array<() => void>;
  /** Device flows: the worker's flow id, to cancel it. */
  flow?: string;
}

/** Finished attempts are kept this long, so a `login` that reconnects still learns the outcome. */
const KEEP_FINISHED_MS = 10 * 60_000;

/**
 * Sign-in attempts as `mailtokend login` sees them: one per `login` (or per
 * web "Sign in" click), settled once by whatever ends it (the callback, a
 * pasted address, the device flow, expiry, cancel). Waiting is a long poll.
 */
export class SignInAttempts {
  readonly #byId = new Map<string, Attempt>();

  constructor(private readonly now: () => number = Date.now) {}

  create(input: { key: string; user: string; mode: SignInMode; lifetimeMs: number }): string {
    this.#sweep();
    const id = randomBytes(12).toString('base64url');
    this.#byId.set(id, { id, key: input.key, user: input.user, mode: input.mode, status: 'pending', expiresAt: this.now() + input.lifetimeMs, waiters: [] });
    return id;
  }

  setFlow(id: string, flow: string): void {
    const attempt = this.#byId.get(id);
    if (attempt) attempt.flow = flow;
  }

  get(id: string): (AttemptStatus & { key: string; flow?: string }) | undefined {
    const attempt = this.#byId.get(id);
    if (!attempt) return undefined;
    this.#expire(attempt);
    return view(attempt);
  }

  /** Ends an attempt once; later outcomes (a second callback) are ignored. */
  settle(id: string, outcome: { ok: boolean; code: string; message: string; identity?: string }): void {
    const attempt = this.#byId.get(id);
    if (!attempt || attempt.status !== 'pending') return;
    attempt.status = outcome.ok ? 'ok' : 'failed';
    attempt.code = outcome.code;
    attempt.message = outcome.message;
    if (outcome.identity !== undefined) attempt.identity = outcome.identity;
    attempt.expiresAt = this.now() + KEEP_FINISHED_MS;
    for (const wake of attempt.waiters.splice(0)) wake();
  }

  /** Answers when the attempt ends, or after `waitMs` with it still pending. */
  async wait(id: string, waitMs: number): Promise<AttemptStatus | undefined> {
    const attempt = this.#byId.get(id);
    if (!attempt) return undefined;
    this.#expire(attempt);
    if (attempt.status === 'pending') {
      const waitFor = Math.min(waitMs, Math.max(0, attempt.expiresAt - this.now()) + 10);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitFor);
        function done(): void {
          clearTimeout(timer);
          const i = attempt!.waiters.indexOf(done);
          if (i >= 0) attempt!.waiters.splice(i, 1);
          resolve();
        }
        attempt.waiters.push(done);
      });
      this.#expire(attempt);
    }
    return view(attempt);
  }

  #expire(attempt: Attempt): void {
    if (attempt.status === 'pending' && this.now() >= attempt.expiresAt) {
      this.settle(attempt.id, { ok: false, code: 'signin-expired', message: 'the sign-in was not completed within 10 minutes; start it again' });
    }
  }

  #sweep(): void {
    const now = this.now();
    for (const [id, attempt] of this.#byId) {
      this.#expire(attempt);
      if (attempt.status !== 'pending' && now >= attempt.expiresAt) this.#byId.delete(id);
    }
  }
}

function view(attempt: Attempt): AttemptStatus & { key: string; flow?: string } {
  const { waiters: _waiters, expiresAt: _expiresAt, ...rest } = attempt;
  return { ...rest };
}
