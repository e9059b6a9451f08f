/**
 * Small helpers for tests that use the emulator: where the test CA is, and
 * raw HTTP calls for checking wire-level answers the libraries hide.
 */
import { join } from 'node:path';

/**
 * The CA directory the test run made with ensureCa. The test command sets
 * MAILTOKEND_TEST_CA_DIR and NODE_EXTRA_CA_CERTS (= that dir's ca.pem) for
 * the whole process, because Node reads NODE_EXTRA_CA_CERTS only at start.
 */
export function testCaDir(): string {
  const dir = process.env.MAILTOKEND_TEST_CA_DIR;
  if (!dir) {
    throw new Error(
      'MAILTOKEND_TEST_CA_DIR is not set. Make a CA once (node -e "import(\'./dist/emulator/ca.js\').then(m => m.ensureCa(\'/tmp/mailtokend-ca\'))") ' +
        'and run the tests with MAILTOKEND_TEST_CA_DIR=/tmp/mailtokend-ca NODE_EXTRA_CA_CERTS=/tmp/mailtokend-ca/ca.pem',
    );
  }
  const want = join(dir, 'ca.pem');
  if (process.env.NODE_EXTRA_CA_CERTS !== want) {
    throw new Error(`NODE_EXTRA_CA_CERTS must be ${want} so Node trusts the emulator (it is '${process.env.NODE_EXTRA_CA_CERTS ?? ''}')`);
  }
  return dir;
}

export interface RawAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or {} when the body is not JSON. */
  body: Record<string, unknown>;
}

async function answer(res: Response): Promise<RawAnswer> {
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object') body = v as Record<string, unknown>;
  } catch {
    // not JSON: the caller looks at text
  }
  return { status: res.status, headers: res.headers, text, body };
}

/** POSTs a form, as token endpoints expect. */
export async function postForm(url: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params).toString(),
  });
  return answer(res);
}

/** GETs without following redirects (authorize endpoints answer 302). */
export async function get(url: string): Promise<RawAnswer> {
  return answer(await fetch(url, { redirect: 'manual' }));
}
