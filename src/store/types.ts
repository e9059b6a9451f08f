/**
 * The grant store keeps one OAuth2 refresh grant per account. It never holds
 * access tokens: those live only in the account actors' memory.
 *
 * The interface is backend-neutral on purpose: the embedded file store
 * (file-store.ts) and a future PostgreSQL store shared by several daemons both
 * implement it, and both use `version` for compare-and-swap.
 */

/** A refresh grant as stored, with its bookkeeping. */
export interface StoredGrant {
  /** Account address, exactly as given to `save` (the store does not normalize it). */
  user: string;
  /** Provider section name, e.g. 'google', 'microsoft', 'contoso'. */
  provider: string;
  refreshToken: string;
  scopes: string[];
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
}

export interface GrantStore {
  /**
   * The grant of `user`, or undefined if none is stored.
   * Throws StoreCorruptError if a grant exists but cannot be read; never
   * reports an unreadable grant as absent.
   */
  load(user: string): Promise<StoredGrant | undefined>;
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
