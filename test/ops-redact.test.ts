/**
 * The redaction layer (src/ops/redact.ts): known secrets and token-shaped
 * strings never reach the output, whatever field, message or encoding they
 * come in; ordinary log content (paths, addresses, ids, error codes) is left
 * alone; the set of known secrets stays bounded; every logger the daemon
 * makes writes through it, in JSON and in the readable format.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '../src/log.js';
import { Redactor, scrubFields, secretRedactor } from '../src/ops/redact.js';

const b64 = (n: number) => randomBytes(n).toString('base64url');
const SHAPES = {
  googleAccess: `ya29.a0${b64(120)}`,
  googleRefresh: `1//0${b64(72)}`,
  googleCode: `4/0A${b64(54)}`,
  googleSecret: `GOCSPX-${b64(21)}`,
  msRefresh: `0.A${b64(420)}`,
  msCode: `1.A${b64(300)}`,
  msDeviceCode: `DAQABIQEAAAD${b64(150)}`,
  jwt: `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${b64(200)}.${b64(256)}`,
  msConsumer: `EwBwA8l6BAAU${b64(600)}`,
  opaque: b64(48),
};

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _e: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

test('token shapes are redacted wherever they appear, known or not', () => {
  const r = new Redactor();
  for (const [name, secret] of Object.entries(SHAPES)) {
    for (const text of [
      secret,
      `{"msg":"oops","detail":"${secret}"}`,
      `refresh failed for ${secret}.`,
      `POST /token body=grant_type=refresh_token&refresh_token=${encodeURIComponent(secret)}&client_id=x`,
      `Authorization: Bearer ${secret}`,
      `https://oauth2.example/revoke?token=${encodeURIComponent(secret)}`,
    ]) {
      const out = r.scrub(text);
      assert.not.ok(out.includes(secret) || out.includes(encodeURIComponent(secret)), `${name} survived in ${out.slice(0, 80)}`);
      assert.ok(out.includes('[redacted]'), name);
    }
  }
});

test('known secrets of any shape are redacted: short, with odd characters, URL-encoded, next to punctuation', () => {
  const r = new Redactor();
  const secrets = ['hunter2hunter2', 'p@ss word#1!', 'demo-google-secret', 'abc8Q~Zk.Xy-12'];
  secrets.forEach((s, i) => r.remember(`config:${i}`, s, 1));
  for (const s of secrets) {
    for (const text of [`secret is ${s}`, `"${s}"`, `client_secret=${encodeURIComponent(s)}&x=1`, `(${s}).`, `-${s}-`]) {
      const out = r.scrub(text);
      assert.not.ok(out.includes(s) || out.includes(encodeURIComponent(s)), `${s} survived in ${out}`);
    }
  }
});

test('ordinary log content is left alone', () => {
  const r = new Redactor();
  r.remember('config:google', 'GOCSPX-not-in-these-lines', 1);
  const lines = [
    '{"level":"info","time":"2026-01-01T00:00:00.000Z","pid":123,"account":"alice.smith@contoso.example","from":"refreshing","to":"valid","msg":"account state changed"}',
    '{"socket":"/home/alice/.local/state/mailtokend/exim/exim.sock","proto":"SMTP","result":"ok","ms":0,"msg":"token served"}',
    '{"error":"invalid_grant","detail":"AADSTS50173: The provided grant has expired due to it being revoked. Trace ID: 0b1e4f4a-2c0b-4a7e-9c55-8f0f6e1a2b3c"}',
    '{"client":"123456789012-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com","msg":"x"}',
    '{"file":"/tmp/mailtokend-e2e-Ab12Cd/state/grants/alice.grant","code":"store-io","error":"EACCES"}',
    'listening on http://127.0.0.1:8080/metrics for mailtokend_token_requests_total',
  ];
  for (const line of lines) assert.is(r.scrub(line), line);
});

test('each owner keeps only its latest values, so the set stays bounded over many refreshes', () => {
  const r = new Redactor();
  const tokens = [...Array(50).keys()].map(() => `tok-${b64(30)}`);
  for (const t of tokens) r.remember('access:alice@example.com', t);
  assert.ok(r.size <= 4, `size ${r.size}`);
  // The two latest are still known (a late log line about the previous token is still scrubbed).
  for (const t of tokens.slice(-2)) assert.not.ok(r.scrub(`x ${t} y`).includes(t));
  r.forget('access:alice@example.com');
  assert.is(r.size, 0);
  // The same value under two owners stays known until both let go of it.
  r.remember('a', 'shared-secret-value-1');
  r.remember('b', 'shared-secret-value-1');
  r.forget('a');
  assert.is(r.scrub('shared-secret-value-1'), '[redacted]');
});

test('scrubFields scrubs string values of worker log records', () => {
  const r = new Redactor();
  r.remember('refresh:bob', 'MyRefreshTokenValue12345');
  const out = scrubFields(r, { account: 'bob@example.com', error: 'provider said MyRefreshTokenValue12345 is bad', n: 3 });
  assert.equal(out, { account: 'bob@example.com', error: 'provider said [redacted] is bad', n: 3 });
});

for (const format of ['json', 'pretty'] as const) {
  test(`the daemon's logger (${format}) scrubs every field, nested objects and the message`, () => {
    const sink = new Sink();
    const log = createLogger('debug', format, sink);
    const known = `known-${b64(20)}`;
    secretRedactor.remember('test:ops-redact', known, 1);
    log.info({ anything: SHAPES.googleAccess, nested: { deep: [SHAPES.msRefresh] }, err: new Error(`failed with ${known}`) }, `message with ${SHAPES.jwt}`);
    log.debug({ refreshToken: 'field-name-redaction-still-applies' }, 'by name');
    secretRedactor.forget('test:ops-redact');
    for (const secret of [SHAPES.googleAccess, SHAPES.msRefresh, SHAPES.jwt, known, 'field-name-redaction-still-applies']) {
      assert.not.ok(sink.text.includes(secret), `${secret.slice(0, 10)}… in ${format} output`);
    }
    assert.ok(sink.text.includes('[redacted]'));
    assert.ok(sink.text.includes('message with'));
  });
}

test.run();
