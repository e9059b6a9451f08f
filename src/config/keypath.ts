/**
 * A key path names a value in the config: `socket[1].mode`,
 * `provider.google.token_url`, `account[0].user`. Numbers are array indexes
 * (0-based, in file order). Problems and the locator share this one format, so
 * a path built from a zod issue finds the line the locator recorded.
 */
export type KeyPath = readonly (string | number)[];

const BARE = /^[A-Za-z0-9_-]+$/;

export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const name = BARE.test(part) ? part : JSON.stringify(part);
      out += out === '' ? name : `.${name}`;
    }
  }
  return out;
}
