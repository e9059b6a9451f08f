/**
 * What every handler gets: the state, the signer, the clock and the settings
 * of this emulator instance.
 */
import type { Signer } from './jwt.js';
import type { Store } from './store.js';
import type { Rotation } from './types.js';

export interface Ctx {
  store: Store;
  signer: Signer;
  now(): number;
  /** https://host:port, no trailing slash. */
  baseUrl: string;
  /** Access token lifetime, seconds. */
  lifetime: number;
  rotation: Rotation;
  device: { interval: number; approveAfterMs: number; expiresIn: number };
}

/** Authorization codes live ten minutes at both providers. */
export const CODE_LIFETIME_MS = 10 * 60 * 1000;
