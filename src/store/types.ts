import type { StoreCorruptError } from './errors.js';

/**
 * The grant store keeps one OAuth2 refresh grant per account, and with it the
 * last access token obtained from that grant. The access token is kept so a
 * restarted daemon (or another instance of a cluster) can serve at once
 * instead of refreshing every account at start; it is encrypted like the grant.
 *
 * The interface is backend-neutral on purpose: the embedded file store
 * (file-store.ts) and a future PostgreSQL store shared by several daemons both
 * implement it, and both use `version` for compare-and-swap.
 */

/** The last access token obtained with a grant (epoch ms throughout). */
export interface StoredAccess {
  accessToken: string;
  expiresAt: number;
  /** What the provider granted (expires_in), so the next refresh is planned as for a fresh token. */
  lifetimeMs: number;
  refreshedAt: number;
  /** The instance that obtained it, for clusters; absent for a single daemon. */
  refreshedBy?: string;
}

/** A refresh grant as stored, with its bookkeeping. */
export interface StoredGrant {
  /** Account address, exactly as given to `save` (the store does not normalize it). */
  user: string;
  /** Provider section name, e.g. 'google', 'microsoft', 'contoso'. */
  provider: string;
  refreshToken: string;
  scopes: string[];
  /** Absent in files written before access tokens were kept, and after a sign-out of the token. */
  access?: StoredAccess;
  /** 1 on first save, +1 on every save. */
  version: number;
  /** Epoch ms of the save that wrote this version. */
  updatedAt: number;
}

/** What a caller supplies to `save`; the store adds user, version and updatedAt. */
export interface GrantInput {
  provider: string;
  refreshToken: string;
  scopes: string[];
  access?: StoredAccess;
}

export interface GrantStore {
  /**
   * The grant of `user`, or undefined if none is stored.
   * Throws StoreCorruptError if a grant exists but cannot be read; never
   * reports an unreadable grant as absent.
   */
  load(user: string): Promise<StoredGrant | undefined>;
  /**
   * Optional: the grants of many users at once, in order (a shard's start).
   * An unreadable grant comes back as its StoreCorruptError, not thrown.
   */
  loadMany?(users: readonly string[]): Promise<Array<StoredGrant | undefined | StoreCorruptError>>;
  /**
   * Store a new version of the grant of `user` and return it.
   * expectedVersion: if given and the stored version differs (0 = must not exist) → StoreConflictError.
   */
  save(user: string, grant: GrantInput, expectedVersion?: number): Promise<StoredGrant>;
  /** Delete the grant of `user`; true if there was one. */
  remove(user: string): Promise<boolean>;
  /** Every address with a stored grant, sorted. */
  users(): Promise<string[]>;
  /** Wait for writes in flight, then refuse further calls. */
  close(): Promise<void>;
}

/** One grant file that `check()` could not read. */
export interface CorruptGrantFile {
  path: string;
  /** The address from the file's clear-text header, when it could be read. */
  user?: string;
  reason: string;
}

/** The file store adds a full integrity check to the common interface. */
export interface FileGrantStore extends GrantStore {
  /** The directory holding the grant files. */
  readonly grantsDir: string;
  /** Decrypt every grant file and report those that fail (for `mailtokend store check`). */
  check(): Promise<{ ok: number; corrupt: CorruptGrantFile[] }>;
}
