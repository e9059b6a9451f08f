/**
 * The same guard as the file store's key-check.json (src/store/key-check.ts),
 * kept in `mailtokend_meta`: a record sealed with the cluster's key, so an
 * instance started with another key refuses at once instead of finding every
 * grant "corrupt". The key itself never reaches the database.
 */
import type pg from 'pg';
import { parseEnvelope, seal, unseal } from '../envelope.js';
import { StoreCorruptError, StoreKeyError } from '../errors.js';

const RECORD = 'key-check';
const AAD = Buffer.from('mailtokend postgres key check', 'utf8');
const TEXT = 'mailtokend store key check';
const WHERE = 'postgresql:mailtokend_meta/key-check';

/** Runs inside the migration transaction, so the first instance's key is the one every later instance must match. */
export async function checkKeyRecord(client: pg.ClientBase, key: Buffer): Promise<void> {
  await client.query('INSERT INTO mailtokend_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [RECORD, seal(key, '', AAD, TEXT)]);
  const { rows } = await client.query<{ value: string }>('SELECT value FROM mailtokend_meta WHERE name = $1', [RECORD]);
  try {
    unseal(key, WHERE, parseEnvelope(WHERE, rows[0]?.value ?? ''), AAD, '');
  } catch (error) {
    if (!(error instanceof StoreCorruptError)) throw error;
    throw new StoreKeyError(
      'the store key does not match the PostgreSQL store: every instance of a cluster must use the key the store was written with ' +
        '(MAILTOKEND_STORE_KEY, the systemd credential, or store.key); see doc/cluster.md',
      { path: 'postgresql' },
    );
  }
}
