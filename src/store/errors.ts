import { MailtokendError } from '../errors.js';

/** The codes the store's errors carry; doc/store.md explains each. */
export const StoreErrorCode = {
  io: 'store-io',
  corrupt: 'store-corrupt',
  conflict: 'store-conflict',
  key: 'store-key',
  closed: 'store-closed',
  /** PostgreSQL could not be reached (src/store/postgres/). */
  unreachable: 'store-unreachable',
  /** The database schema is newer than this version of mailtokend, or could not be migrated. */
  schema: 'store-schema',
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

/**
 * Base of every store error; on its own it means an I/O failure (`store-io`)
 * on `path`. Messages name files and addresses, never tokens or keys.
 */
export class StoreError extends MailtokendError {
  /** The file or directory involved, when there is one. */
  readonly path: string | undefined;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown; path?: string }) {
    super(code, message, options);
    this.path = options?.path;
  }
}

/** A grant file exists but cannot be trusted: unparseable, or authentication failed. */
export class StoreCorruptError extends StoreError {
  /** What is wrong, without the path (the message has both). */
  readonly reason: string;

  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(StoreErrorCode.corrupt, `grant file ${path} is unreadable: ${reason}`, { ...options, path });
    this.reason = reason;
  }
}

/** A compare-and-swap save found another version than the caller expected. */
export class StoreConflictError extends StoreError {
  readonly user: string;
  readonly expectedVersion: number;
  /** The stored version (0 = none), or undefined if the stored grant is unreadable. */
  readonly actualVersion: number | undefined;

  constructor(user: string, expectedVersion: number, actualVersion: number | undefined, path?: string) {
    const found =
      actualVersion === undefined ? 'an unreadable (corrupt) grant' : actualVersion === 0 ? 'no grant' : `version ${actualVersion}`;
    const wanted = expectedVersion === 0 ? 'no grant' : `version ${expectedVersion}`;
    super(StoreErrorCode.conflict, `grant of ${user} changed concurrently: expected ${wanted}, found ${found}`, { path });
    this.user = user;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** The store key is missing, malformed, unsafe, or does not match the store. */
export class StoreKeyError extends StoreError {
  constructor(message: string, options?: { cause?: unknown; path?: string }) {
    super(StoreErrorCode.key, message, options);
  }
}

/** Wrap a Node I/O error so that the message says which operation on which path failed. */
export function ioError(op: string, path: string, cause: unknown): StoreError {
  const detail = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause);
  return new StoreError(StoreErrorCode.io, `cannot ${op} ${path}: ${detail}`, { cause, path });
}

/** True for a Node system error with the given errno code (ENOENT, EEXIST, ...). */
export function hasErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
