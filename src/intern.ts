/**
 * One shared copy of each string from a small set (states, machine events,
 * provider names, client ids, scopes). Every message between threads and
 * every file read makes new copies of them; kept per account, thousands of
 * identical short strings add up to megabytes. Bounded: once it holds
 * MAX_INTERNED values, new ones are returned as they are.
 */
const MAX_INTERNED = 1_000;
const strings = new Map<string, string>();

export function intern<T extends string | undefined>(value: T): T {
  if (value === undefined) return value;
  const known = strings.get(value);
  if (known !== undefined) return known as T;
  if (strings.size < MAX_INTERNED) strings.set(value, value);
  return value;
}
