import { formatKeyPath, type KeyPath } from './keypath.js';

/**
 * Maps key paths to the line that defines them. smol-toml returns plain
 * objects without positions, so this walks the text a second time, only far
 * enough to see table headers (`[x]`, `[[x]]`), keys (dotted and quoted) and
 * the insides of arrays and inline tables. It runs only on text smol-toml has
 * already accepted, so it may be lenient: on anything odd it moves on.
 */
export class KeyLocator {
  private readonly lines = new Map<string, number>();
  private readonly lineStarts: number[] = [0];
  /** Count of `[[x]]` tables seen per concrete array path. */
  private readonly arrays = new Map<string, number>();
  private pos = 0;
  private scanned = false;

  /** The text is walked on the first question only: a valid config (the common case) never asks. */
  constructor(private readonly text: string) {}

  /**
   * The line of `path`, else of its nearest recorded ancestor (a missing key
   * reports its table's header), else 0.
   */
  line(path: KeyPath): number {
    if (!this.scanned) {
      this.scanned = true;
      for (let i = 0; i < this.text.length; i++) if (this.text[i] === '\n') this.lineStarts.push(i + 1);
      this.scanDocument();
    }
    for (let n = path.length; n > 0; n--) {
      const line = this.lines.get(formatKeyPath(path.slice(0, n)));
      if (line !== undefined) return line;
    }
    return 0;
  }

  private lineAt(pos: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  /** First definition wins, and ancestors inherit it: `provider` gets the line of the first `[provider.x]`. */
  private record(path: KeyPath, pos: number): void {
    const line = this.lineAt(pos);
    for (let n = 1; n <= path.length; n++) {
      const key = formatKeyPath(path.slice(0, n));
      if (!this.lines.has(key)) this.lines.set(key, line);
    }
  }

  private scanDocument(): void {
    let table: KeyPath = [];
    while (this.pos < this.text.length) {
      const start = this.pos;
      this.skipBlank();
      const c = this.text[this.pos];
      if (c === '\n' || c === '\r') this.pos++;
      else if (c === '#') this.skipComment();
      else if (c === '[') table = this.scanHeader();
      else if (c !== undefined) this.scanKeyValue(table);
      if (this.pos === start) this.pos++;
    }
  }

  private scanHeader(): KeyPath {
    const at = this.pos;
    const isArray = this.text.startsWith('[[', this.pos);
    this.pos += isArray ? 2 : 1;
    const keys = this.scanKey();
    this.skipComment(); // the closing bracket(s) and any comment after them
    const path: (string | number)[] = [];
    keys.forEach((key, i) => {
      path.push(key);
      const count = this.arrays.get(formatKeyPath(path));
      const last = i === keys.length - 1;
      if (isArray && last) {
        this.arrays.set(formatKeyPath(path), (count ?? 0) + 1);
        path.push(count ?? 0);
      } else if (count !== undefined) {
        // `[account.x]` after `[[account]]` belongs to the last account.
        path.push(count - 1);
      }
    });
    this.record(path, at);
    return path;
  }

  private scanKeyValue(table: KeyPath): void {
    const at = this.pos;
    const path = [...table, ...this.scanKey()];
    this.record(path, at);
    this.skipBlank();
    if (this.text[this.pos] === '=') this.pos++;
    this.scanValue(path);
  }

  /** A dotted key: bare, "basic" or 'literal' parts separated by dots. */
  private scanKey(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipBlank();
      const c = this.text[this.pos];
      if (c === '"' || c === "'") {
        const raw = this.scanString();
        parts.push(c === "'" ? raw.slice(1, -1) : decodeBasic(raw));
      } else {
        const start = this.pos;
        while (this.pos < this.text.length && /[A-Za-z0-9_-]/.test(this.text[this.pos]!)) this.pos++;
        parts.push(this.text.slice(start, this.pos));
      }
      this.skipBlank();
      if (this.text[this.pos] !== '.') return parts;
      this.pos++;
    }
  }

  private scanValue(path: KeyPath): void {
    this.skipBlank();
    const c = this.text[this.pos];
    if (c === '"' || c === "'") this.scanString();
    else if (c === '[') this.scanArray(path);
    else if (c === '{') this.scanInlineTable(path);
    else while (this.pos < this.text.length && !',]}#\r\n'.includes(this.text[this.pos]!)) this.pos++;
  }

  private scanArray(path: KeyPath): void {
    this.pos++;
    for (let index = 0; this.pos < this.text.length; index++) {
      this.skipBlankLines();
      if (this.text[this.pos] === ']') break;
      this.record([...path, index], this.pos);
      const before = this.pos;
      this.scanValue([...path, index]);
      this.skipBlankLines();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.pos === before) this.pos++;
    }
    this.pos++;
  }

  private scanInlineTable(path: KeyPath): void {
    this.pos++;
    while (this.pos < this.text.length) {
      this.skipBlankLines(); // TOML 1.1 allows newlines inside inline tables
      if (this.text[this.pos] === '}') break;
      const before = this.pos;
      this.scanKeyValue(path);
      this.skipBlankLines();
      if (this.text[this.pos] === ',') this.pos++;
      else if (this.pos === before) this.pos++;
    }
    this.pos++;
  }

  /** Skips any of the four string forms and returns its raw text, quotes included. */
  private scanString(): string {
    const start = this.pos;
    const quote = this.text[this.pos]!;
    const multi = this.text.startsWith(quote.repeat(3), this.pos);
    this.pos += multi ? 3 : 1;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (c === '\\' && quote === '"') this.pos += 2;
      else if (multi ? this.text.startsWith(quote.repeat(3), this.pos) : c === quote) {
        this.pos += multi ? 3 : 1;
        // A multi-line string may end with up to two quotes of its own: `""""x"""""`.
        for (let extra = 0; multi && extra < 2 && this.text[this.pos] === quote; extra++) this.pos++;
        break;
      } else if (!multi && c === '\n') break;
      else this.pos++;
    }
    return this.text.slice(start, this.pos);
  }

  private skipBlank(): void {
    while (this.text[this.pos] === ' ' || this.text[this.pos] === '\t') this.pos++;
  }

  private skipBlankLines(): void {
    for (;;) {
      this.skipBlank();
      const c = this.text[this.pos];
      if (c === '\n' || c === '\r') this.pos++;
      else if (c === '#') this.skipComment();
      else return;
    }
  }

  private skipComment(): void {
    while (this.pos < this.text.length && this.text[this.pos] !== '\n') this.pos++;
  }
}

/** Best effort: JSON shares TOML's common escapes; anything else keeps its raw text. */
function decodeBasic(raw: string): string {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'string' ? value : raw.slice(1, -1);
  } catch {
    return raw.slice(1, -1);
  }
}
