/**
 * A wrong store key is the most likely operator mistake (a lost
 * MAILTOKEND_STORE_KEY silently falls back to a fresh store.key). Without a
 * check it would surface as "every grant is corrupt", one account at a time.
 * `<dir>/key-check.json` holds a record sealed with the store's key, so
 * opening with another key fails at once with a StoreKeyError.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readIfExists, writeFileAtomic } from './atomic.js';
import { GRANT_FILE_RE, openGrant, parseEnvelope, seal, unseal } from './envelope.js';
import { StoreCorruptError, StoreKeyError, ioError } from './errors.js';

const KEY_CHECK_FILE = 'key-check.json';
const KEY_CHECK_AAD = Buffer.from('mailtokend key check', 'utf8');
const KEY_CHECK_TEXT = 'mailtokend store key check';
/** Grant files tried when a store has grants but no key-check file yet. */
const SAMPLE = 3;

function mismatch(dir: string, what: string): StoreKeyError {
  return new StoreKeyError(
    `the store key does not match the store in ${dir}: ${what}. ` +
      'Use the key the store was written with (MAILTOKEND_STORE_KEY, the systemd credential, or store.key); see doc/store.md',
    { path: dir },
  );
}

/** Throw StoreKeyError unless `key` is the key of the store in `dir`; record it on first use. */
export async function verifyStoreKey(dir: string, grantsDir: string, key: Buffer): Promise<void> {
  const checkPath = join(dir, KEY_CHECK_FILE);
  const text = await readIfExists(checkPath);
  if (text !== undefined) {
    let envelope: ReturnType<typeof parseEnvelope>;
    try {
      envelope = parseEnvelope(checkPath, text);
    } catch (err) {
      if (!(err instanceof StoreCorruptError)) throw err;
      // Unparseable is damage, not a wrong key: say so, and leave the file for the operator.
      throw new StoreKeyError(
        `the key-check file ${checkPath} is unreadable (${err.reason}); it is left as it is. ` +
          'Restore it from a backup, or remove it: the next start checks the key against the grant files and writes a new one; see doc/store.md',
        { path: checkPath },
      );
    }
    try {
      unseal(key, checkPath, envelope, KEY_CHECK_AAD, '');
      return;
    } catch (err) {
      if (!(err instanceof StoreCorruptError)) throw err;
      throw mismatch(dir, `${checkPath} failed to verify (${err.reason})`);
    }
  }
  // No record yet: before writing one, make sure existing grants agree with this key.
  let names: string[];
  try {
    names = (await readdir(grantsDir)).filter((n) => GRANT_FILE_RE.test(n)).slice(0, SAMPLE);
  } catch (err) {
    throw ioError('list', grantsDir, err);
  }
  let failed = 0;
  let verified = false;
  for (const name of names) {
    const path = join(grantsDir, name);
    const grantText = await readIfExists(path);
    if (grantText === undefined) continue;
    try {
      openGrant(key, path, parseEnvelope(path, grantText).user, grantText);
      verified = true;
      break;
    } catch (err) {
      if (!(err instanceof StoreCorruptError)) throw err;
      failed++;
    }
  }
  if (!verified && failed > 0) throw mismatch(dir, `none of the ${failed} grant files tried decrypts with it`);
  await writeFileAtomic(dir, KEY_CHECK_FILE, seal(key, '', KEY_CHECK_AAD, KEY_CHECK_TEXT));
}
