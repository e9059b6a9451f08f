/**
 * RS256 signing of id_tokens (and Microsoft's JWT access tokens) with a key
 * made per emulator start. Neither library verifies id_token signatures on a
 * token response, but the keys are published (JWKS) so a client that does
 * verify can.
 */
import { createHash, generateKeyPair, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { b64url } from './ids.js';

const generate = promisify(generateKeyPair);

export interface Signer {
  readonly kid: string;
  sign(payload: Record<string, unknown>, header?: Record<string, unknown>): string;
  jwks(): { keys: JsonWebKey[] };
}

export async function createSigner(): Promise<Signer> {
  const { privateKey, publicKey } = (await generate('rsa', { modulusLength: 2048 })) as {
    privateKey: KeyObject;
    publicKey: KeyObject;
  };
  const jwk = publicKey.export({ format: 'jwk' });
  const kid = b64url(createHash('sha256').update(`${jwk.n}.${jwk.e}`).digest()).slice(0, 27);
  return {
    kid,
    sign(payload, header = {}) {
      const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid, ...header }));
      const body = b64url(JSON.stringify(payload));
      const signature = sign('sha256', Buffer.from(`${head}.${body}`), privateKey);
      return `${head}.${body}.${b64url(signature)}`;
    },
    jwks() {
      return { keys: [{ kty: 'RSA', use: 'sig', alg: 'RS256', kid, x5t: kid, n: jwk.n, e: jwk.e }] };
    },
  };
}

/** OIDC at_hash: left half of SHA-256 of the access token, base64url. */
export function atHash(accessToken: string): string {
  const d = createHash('sha256').update(accessToken).digest();
  return b64url(d.subarray(0, d.length / 2));
}
