/**
 * Identifiers and token strings shaped like the providers' own. Secrets are
 * random (never derived from anything a test could guess); stable ids (object
 * ids, tenant ids, Google subject numbers) are derived from names so the same
 * user keeps the same ids across emulator restarts, as a real account does.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';

export function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function random(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

/** A GUID derived from a name (RFC 4122 version 5 layout over SHA-256). */
export function guidFrom(name: string): string {
  const h = createHash('sha256').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export const newGuid = randomUUID;

export const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Google's numeric subject id (21 digits). */
export function googleSub(user: string): string {
  const h = createHash('sha256').update(`google-sub:${user.toLowerCase()}`).digest();
  let digits = '1';
  for (let i = 0; digits.length < 21; i++) digits += String(h[i % h.length]! % 10);
  return digits;
}

export const google = {
  accessToken: (): string => `ya29.a0${random(120)}`,
  refreshToken: (): string => `1//0${random(72)}`,
  code: (): string => `4/0A${random(54)}`,
};

export const microsoft = {
  // Entra refresh tokens and codes are opaque, versioned blobs; access tokens are JWTs (made in jwt.ts).
  refreshToken: (): string => `0.A${random(420)}`,
  code: (): string => `1.A${random(300)}`,
  deviceCode: (): string => `DAQABIQEAAAD${random(150)}`,
  /** Nine characters, as Entra's user codes: no 0/O/1/I to mistype. */
  userCode: (): string => {
    const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
    const bytes = randomBytes(9);
    let s = '';
    for (const b of bytes) s += alphabet[b % alphabet.length];
    return s;
  },
};

/** Entra's timestamp format: '2024-04-15 18:41:56Z'. */
export function aadTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** ISO time with seven fractional digits, as Entra writes dates inside error texts. */
export function aadDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d+)Z$/, (_, f: string) => `.${f.padEnd(7, '0')}Z`);
}
