/**
 * What the whole suite saw, for the secrets scenario (issue 9, item 8): every
 * secret the emulator issued or the suite configured, and every log, page,
 * metrics scrape and error text the daemon produced. Scenarios add to it as
 * they run; the secrets scenario runs last and searches all the text for
 * every secret.
 */

const secrets = new Set<string>();
const texts: Array<{ label: string; text: string }> = [];
const files: string[] = [];

/** Secrets the daemon must never reveal (access/refresh tokens, client secrets, codes). */
export function addSecrets(values: Iterable<string>): void {
  for (const value of values) if (value.length >= 8) secrets.add(value);
}

/** Daemon output captured in memory (stderr, a page, a metrics scrape, an error reply). */
export function addText(label: string, text: string): void {
  texts.push({ label, text });
}

/** A log file to read at the end; it must still exist when the secrets scenario runs. */
export function addLogFile(path: string): void {
  files.push(path);
}

export function collected(): { secrets: ReadonlySet<string>; texts: ReadonlyArray<{ label: string; text: string }>; files: readonly string[] } {
  return { secrets, texts, files };
}
