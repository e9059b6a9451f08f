import { performance } from 'node:perf_hooks';

export interface ClockWatchOptions {
  /** How often the clocks are compared (default 2 s). */
  intervalMs?: number;
  /** A gap between wall and monotonic time bigger than this is a jump (default 5 s). */
  thresholdMs?: number;
  /** Wall clock (Date.now); tests pass their own. */
  wall?: () => number;
  /** Monotonic clock (performance.now: CLOCK_MONOTONIC, which stands still while the machine sleeps). */
  mono?: () => number;
  /** Called with the jump (positive: the wall clock moved ahead) and the wall time now. */
  onJump(jumpMs: number, now: number): void;
}

/**
 * Notices the wall clock moving against the monotonic clock. Node's timers
 * run on the monotonic clock, which does not advance while a laptop sleeps,
 * so after a resume every refresh timer is late by the length of the sleep
 * while token expiry is wall-clock time. The same holds the other way for a
 * clock stepped by NTP or by hand. On a jump the daemon sends WAKE to every
 * account: timers are re-armed from the new time and lapsed tokens refresh at
 * once, before any request asks.
 */
export class ClockWatch {
  readonly #intervalMs: number;
  readonly #thresholdMs: number;
  readonly #wall: () => number;
  readonly #mono: () => number;
  readonly #onJump: (jumpMs: number, now: number) => void;
  #lastWall: number;
  #lastMono: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ClockWatchOptions) {
    this.#intervalMs = options.intervalMs ?? 2_000;
    this.#thresholdMs = options.thresholdMs ?? 5_000;
    this.#wall = options.wall ?? Date.now;
    this.#mono = options.mono ?? (() => performance.now());
    this.#onJump = options.onJump;
    this.#lastWall = this.#wall();
    this.#lastMono = this.#mono();
  }

  start(): void {
    if (this.#timer) return;
    this.#lastWall = this.#wall();
    this.#lastMono = this.#mono();
    this.#timer = setInterval(() => this.check(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Compares the clocks once; returns the jump when there was one. */
  check(): number | undefined {
    const wall = this.#wall();
    const mono = this.#mono();
    const jump = wall - this.#lastWall - (mono - this.#lastMono);
    this.#lastWall = wall;
    this.#lastMono = mono;
    if (Math.abs(jump) <= this.#thresholdMs) return undefined;
    this.#onJump(Math.round(jump), wall);
    return jump;
  }
}
