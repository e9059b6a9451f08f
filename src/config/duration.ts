/**
 * Durations in the config: "500ms", "90s", "10m", "1h", "1h30m", "1.5s", or a
 * bare number of seconds. Units must come largest first and at most once each,
 * so "30m1h" or "1m1m" (almost certainly typos) are refused rather than summed.
 */

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const ORDER: readonly Unit[] = ['h', 'm', 's', 'ms'];

// `ms` before `m` and `s` so "500ms" is not read as 500 minutes and an "s".
const PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;

/** Milliseconds, or undefined when `value` is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  }
  if (typeof value !== 'string' || value === '') return undefined;
  let total = 0;
  let lastRank = -1;
  PART.lastIndex = 0;
  while (PART.lastIndex < value.length) {
    const match = PART.exec(value);
    if (match === null) return undefined;
    const unit = match[2] as Unit;
    const rank = ORDER.indexOf(unit);
    if (rank <= lastRank) return undefined;
    lastRank = rank;
    total += Number(match[1]) * UNIT_MS[unit];
  }
  return Math.round(total);
}

/** Shortest readable form for messages: 4000 → "4s", 5400000 → "1h30m". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const unit of ORDER) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * UNIT_MS[unit];
    }
  }
  return out;
}
