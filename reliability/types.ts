/**
 * The shape every reliability scenario shares (issue 9): the runner
 * (reliability/run.ts) calls each scenario's `run`, prints one table of
 * figures, writes doc/reliability.md, and exits 1 when any figure misses its
 * bound. The fast subset in `npm test` calls the same functions with
 * `fast: true` (smaller counts, same checks).
 */

export interface ScenarioOptions {
  /** The small, quick variant that runs in `npm test` (seconds, not minutes). */
  fast: boolean;
  /** Progress lines for the person running the suite (not part of the figures). */
  log: (line: string) => void;
  /** Scratch directory for this scenario; created by the runner, removed after. */
  workDir: string;
}

export interface Figure {
  /** What was measured, in words a reader of doc/reliability.md understands. */
  name: string;
  /** The measured value; numbers are printed as they are, strings verbatim. */
  value: number | string;
  /** The bound, e.g. "= 0", "≤ 1 s", "≤ 1.5× baseline"; empty when the figure is informative only. */
  bound: string;
  /** Whether the value meets the bound (true when there is no bound). */
  ok: boolean;
}

export interface ScenarioResult {
  /** Short id used on the command line: `npm run reliability -- --only hostile`. */
  id: string;
  title: string;
  figures: Figure[];
  /** Seconds the scenario took. */
  seconds: number;
  /** Anything a reader should know about this run (e.g. a figure the machine could not reach). */
  notes?: string[];
}

export interface Scenario {
  id: string;
  title: string;
  run(options: ScenarioOptions): Promise<ScenarioResult>;
}
