/** The grant store: refresh grants, encrypted at rest. See doc/store.md. */
export type { CorruptGrantFile, FileGrantStore, GrantInput, GrantStore, StoredAccess, StoredGrant } from './types.js';
export { StoreConflictError, StoreCorruptError, StoreError, StoreErrorCode, StoreKeyError } from './errors.js';
export { openFileStore, type FileStoreOptions } from './file-store.js';
export { STORE_KEY_CREDENTIAL, STORE_KEY_ENV, STORE_KEY_FILE, decodeKeyText, loadStoreKey, type StoreKey } from './key.js';
