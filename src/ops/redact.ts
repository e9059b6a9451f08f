import { Writable } from 'node:stream';

/**
 * The last line of defence between a secret and a log. Field-name redaction
 * (pino's `redact`) only helps when a secret sits under a known name; this
 * layer looks at the text that is about to be written, whatever produced it:
 *
 * - **Known secrets**: every access token the main thread sees (account
 *   updates), every client secret in the config, and in a worker every refresh
 *   token of its shard. Each is replaced wherever it appears, plain or
 *   URL-encoded.
 * - **Token shapes**: strings that look like a provider token (JWTs, Google's
 *   `ya29.` / `1//` / `4/0` / `GOCSPX-`, Microsoft's opaque `0.A…` / `M.C…` /
 *   `EwA…` blobs, any other long random-looking run) and the value after
 *   `Bearer ` or after `access_token=`, `refresh_token=`, `client_secret=`,
 *   `code=` and similar.
 *
 * It is pure (no I/O) so workers use it too, and cheap: one regular
 * expression pass per line plus a hash lookup per candidate word.
 */

export const REDACTED = '[redacted]';

/** Characters a token can be made of (base64url, JWT dots, Google's slashes, Microsoft's `*!$~`, URL-encoding). */
const RUN = /[A-Za-z0-9\-._~+/*!$%]{12,}/g;
/** A secret handed over after a key that names it, as in a form body, a URL query or a header. */
const KEYED =
  /(?<![A-Za-z_])((?:access_token|refresh_token|id_token|client_secret|client_assertion|code_verifier|device_code|assertion|password|code|token)=)([^\s"&,;\\]{8,})/gi;
const BEARER = /(Bearer\s+)([^\s"\\,;]{8,})/gi;
/** A value the RUN pattern matches as one word. */
const WORD = /^[A-Za-z0-9\-._~+/*!$%]{12,}$/;
/** Characters `encodeURIComponent` keeps, without `=` (which a variant strips at the end). */
const PLAIN = /^[A-Za-z0-9\-._~!*'()]+$/;
const EDGE_PUNCTUATION = /^[.~+*!$%/-]+|[.~+*!$%/-]+$/g;
/** Shapes of real provider secrets; see doc/operations.md. */
const TOKEN_PREFIXES = /^(?:ya29\.|1\/\/|4\/0|GOCSPX-|eyJ[A-Za-z0-9_-]*\.|[01]\.A[A-Za-z0-9_-]|M\.[A-Z]\d|Ew[A-D]|DAQAB)/;
/** A long run with letters and digits and no path separator is treated as a secret. */
const LONG_OPAQUE = 40;

function looksSecret(run: string): boolean {
  if (run.length >= 20 && TOKEN_PREFIXES.test(run)) return true;
  if (run.length < LONG_OPAQUE) return false;
  if (run.includes('/') && !run.includes('%')) return false;
  if (run.endsWith('.apps.googleusercontent.com')) return false;
  return /[0-9]/.test(run) && /[A-Za-z]/.test(run);
}

/** Variants under which a secret may appear in text: as is, and URL-encoded. */
function variants(secret: string): string[] {
  // Most tokens (JWTs, Google's) are one word that URL-encoding leaves alone: the main thread
  // remembers every access token, thousands at a daemon's start, so this case costs one test.
  if (PLAIN.test(secret)) return [secret];
  const out = new Set([secret, secret.replace(/=+$/, '')]);
  const encoded = encodeURIComponent(secret);
  if (encoded !== secret) out.add(encoded);
  return [...out].filter((v) => v.length > 0);
}

/**
 * A set of known secret values, each remembered under an owner (an account, a
 * provider section) so the set stays bounded: an owner keeps only its latest
 * few values, older ones are forgotten.
 */
export class Redactor {
  readonly #owners = new Map<string, string[]>();
  readonly #counts = new Map<string, number>();
  /** Secrets that are not one token-alphabet word (short, or with other characters): found by substring. */
  readonly #odd = new Map<string, number>();

  /** Remembers `secret` for `owner`, keeping the owner's last `keep` values. */
  remember(owner: string, secret: string | undefined, keep = 2): void {
    if (secret === undefined || secret.length < 6) return;
    const list = this.#owners.get(owner) ?? [];
    if (list[list.length - 1] === secret) return;
    list.push(secret);
    for (const v of variants(secret)) this.#add(v);
    while (list.length > keep) {
      const old = list.shift()!;
      if (!list.includes(old)) for (const v of variants(old)) this.#drop(v);
    }
    this.#owners.set(owner, list);
  }

  /** Forgets every value of `owner` (an account that was removed). */
  forget(owner: string): void {
    const list = this.#owners.get(owner);
    if (!list) return;
    this.#owners.delete(owner);
    for (const secret of list) for (const v of variants(secret)) this.#drop(v);
  }

  get size(): number {
    return this.#counts.size + this.#odd.size;
  }

  /** The text with every known secret and token-shaped string replaced by `[redacted]`. */
  scrub(text: string): string {
    let out = text.replace(KEYED, (_m, key: string) => `${key}${REDACTED}`);
    out = out.replace(BEARER, (_m, key: string) => `${key}${REDACTED}`);
    out = out.replace(RUN, (run) => (this.#isSecret(run) ? REDACTED : run));
    for (const secret of this.#odd.keys()) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }

  #isSecret(run: string): boolean {
    if (this.#counts.has(run) || looksSecret(run)) return true;
    // Punctuation around a word (a sentence's full stop, a dash before it) is not part of the secret.
    const trimmed = run.replace(EDGE_PUNCTUATION, '');
    return trimmed !== run && this.#counts.has(trimmed);
  }

  #add(value: string): void {
    const map = WORD.test(value) ? this.#counts : this.#odd;
    map.set(value, (map.get(value) ?? 0) + 1);
  }

  #drop(value: string): void {
    const map = WORD.test(value) ? this.#counts : this.#odd;
    const n = (map.get(value) ?? 0) - 1;
    if (n > 0) map.set(value, n);
    else map.delete(value);
  }
}

/** The main thread's redactor: every logger the daemon creates writes through it. */
export const secretRedactor = new Redactor();

/** Scrubs token-shaped strings (and the main thread's known secrets) from a message. */
export function scrubText(text: string): string {
  return secretRedactor.scrub(text);
}

/** Scrubs the string values of a flat record of log fields. */
export function scrubFields<T extends Record<string, unknown>>(redactor: Redactor, fields: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) out[key] = typeof value === 'string' ? redactor.scrub(value) : value;
  return out as T;
}

/**
 * A stream that scrubs every chunk (pino writes one whole line per write)
 * before passing it on: the redaction happens at the output, after every
 * formatter, so nothing logged can bypass it.
 */
export class ScrubbingStream extends Writable {
  constructor(
    private readonly target: NodeJS.WritableStream,
    private readonly redactor: Redactor = secretRedactor,
  ) {
    super({ decodeStrings: false });
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.target.write(this.redactor.scrub(text));
    callback();
  }
}
