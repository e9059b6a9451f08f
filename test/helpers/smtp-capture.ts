/**
 * A tiny SMTP server for tests: plain TCP on 127.0.0.1, EHLO advertises
 * `AUTH XOAUTH2 OAUTHBEARER`, the AUTH string is decoded and accepted only if
 * `validate(token, user)` says the bearer token is good for that user (the
 * e2e tests ask the provider emulator). Mail is accepted only after a
 * successful AUTH and stored with who authenticated and how.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface CapturedMessage {
  authUser: string;
  mechanism: 'XOAUTH2' | 'OAUTHBEARER';
  token: string;
  mailFrom: string;
  rcptTo: string[];
  data: string;
}

export interface AuthAttempt {
  mechanism: string;
  user?: string;
  token?: string;
  accepted: boolean;
  reason?: string;
}

export interface SmtpCapture {
  readonly port: number;
  readonly messages: CapturedMessage[];
  readonly auths: AuthAttempt[];
  /** Every line clients sent, for diagnostics. */
  readonly transcript: string[];
  close(): Promise<void>;
}

export type TokenValidator = (token: string, user: string) => boolean;

/** Parses a decoded XOAUTH2 or OAUTHBEARER (RFC 7628) initial response. */
export function parseSaslBearer(mechanism: string, decoded: string): { user: string; token: string } | undefined {
  if (mechanism === 'XOAUTH2') {
    const m = /^user=([^\x01]+)\x01auth=Bearer ([\x21-\x7e]+)\x01\x01$/.exec(decoded);
    return m ? { user: m[1]!, token: m[2]! } : undefined;
  }
  // gs2-header "n,a=USER," then \x01-separated key=value pairs, ending \x01\x01.
  const m = /^n,a=([^,]*),\x01(.*)\x01\x01$/s.exec(decoded);
  if (!m) return undefined;
  const user = m[1]!.replace(/=2C/g, ',').replace(/=3D/g, '=');
  const pairs = new Map(m[2]!.split('\x01').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
  const auth = /^Bearer ([\x21-\x7e]+)$/.exec(pairs.get('auth') ?? '');
  return auth ? { user, token: auth[1]! } : undefined;
}

export async function startSmtpCapture(validate: TokenValidator): Promise<SmtpCapture> {
  const messages: CapturedMessage[] = [];
  const auths: AuthAttempt[] = [];
  const transcript: string[] = [];
  const open = new Set<Socket>();
  const server: Server = createServer((conn) => {
    open.add(conn);
    conn.on('close', () => open.delete(conn));
    conn.on('error', () => conn.destroy());
    session(conn, validate, messages, auths, transcript);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    messages,
    auths,
    transcript,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of open) c.destroy();
        server.close(() => resolve());
      }),
  };
}

function session(conn: Socket, validate: TokenValidator, messages: CapturedMessage[], auths: AuthAttempt[], transcript: string[]): void {
  let buffer = '';
  let authed: { user: string; token: string; mechanism: 'XOAUTH2' | 'OAUTHBEARER' } | undefined;
  let mail: { from: string; to: string[] } | undefined;
  let data: string[] | undefined;
  /** A pending AUTH waiting for its response line (no initial response, or after the error challenge). */
  let pending: { mechanism: 'XOAUTH2' | 'OAUTHBEARER'; failed?: boolean } | undefined;
  const reply = (line: string) => conn.write(`${line}\r\n`);

  const authenticate = (mechanism: 'XOAUTH2' | 'OAUTHBEARER', b64: string) => {
    const decoded = Buffer.from(b64, 'base64').toString('utf8');
    const parsed = parseSaslBearer(mechanism, decoded);
    const accepted = parsed !== undefined && validate(parsed.token, parsed.user);
    auths.push({ mechanism, user: parsed?.user, token: parsed?.token, accepted, ...(accepted ? {} : { reason: parsed ? 'token refused' : 'unparsable' }) });
    if (accepted) {
      authed = { ...parsed!, mechanism };
      reply('235 2.7.0 Authentication successful');
      return;
    }
    // As Gmail and Outlook do: an error challenge, then 535 after the client's empty answer.
    pending = { mechanism, failed: true };
    reply(`334 ${Buffer.from('{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}').toString('base64')}`);
  };

  const line = (text: string) => {
    transcript.push(text.length > 200 ? `${text.slice(0, 200)}…` : text);
    if (data) {
      if (text === '.') {
        messages.push({ authUser: authed!.user, mechanism: authed!.mechanism, token: authed!.token, mailFrom: mail!.from, rcptTo: mail!.to, data: data.join('\n') });
        data = undefined;
        mail = undefined;
        reply('250 2.0.0 OK queued');
      } else {
        data.push(text.startsWith('..') ? text.slice(1) : text);
      }
      return;
    }
    if (pending) {
      const p = pending;
      pending = undefined;
      if (p.failed) return reply('535 5.7.8 Username and Password not accepted');
      if (text === '*') return reply('501 5.7.0 Authentication cancelled');
      return authenticate(p.mechanism, text);
    }
    const [verb = '', ...args] = text.split(' ');
    switch (verb.toUpperCase()) {
      case 'EHLO':
        return conn.write('250-capture.test\r\n250-AUTH XOAUTH2 OAUTHBEARER\r\n250-8BITMIME\r\n250 SIZE 10000000\r\n');
      case 'HELO':
        return reply('250 capture.test');
      case 'AUTH': {
        const mechanism = (args[0] ?? '').toUpperCase();
        if (mechanism !== 'XOAUTH2' && mechanism !== 'OAUTHBEARER') return reply('504 5.5.4 Unrecognized authentication type');
        if (authed) return reply('503 5.5.1 Already authenticated');
        if (args[1] === undefined) {
          pending = { mechanism };
          return reply('334 ');
        }
        return authenticate(mechanism, args[1]);
      }
      case 'MAIL': {
        if (!authed) return reply('530 5.7.0 Authentication required');
        const from = /^FROM:<([^>]*)>/i.exec(args.join(' '));
        if (!from) return reply('501 5.5.4 Syntax: MAIL FROM:<address>');
        mail = { from: from[1]!, to: [] };
        return reply('250 2.1.0 OK');
      }
      case 'RCPT': {
        if (!mail) return reply('503 5.5.1 MAIL first');
        const to = /^TO:<([^>]*)>/i.exec(args.join(' '));
        if (!to) return reply('501 5.5.4 Syntax: RCPT TO:<address>');
        mail.to.push(to[1]!);
        return reply('250 2.1.5 OK');
      }
      case 'DATA':
        if (!mail || mail.to.length === 0) return reply('503 5.5.1 RCPT first');
        data = [];
        return reply('354 Go ahead');
      case 'RSET':
        mail = undefined;
        return reply('250 2.0.0 OK');
      case 'NOOP':
        return reply('250 2.0.0 OK');
      case 'QUIT':
        reply('221 2.0.0 Bye');
        return void conn.end();
      default:
        return reply('502 5.5.2 Command not recognized');
    }
  };

  reply('220 capture.test ESMTP ready');
  conn.setEncoding('utf8');
  conn.on('data', (chunk: string) => {
    buffer += chunk;
    let at: number;
    while ((at = buffer.indexOf('\r\n')) >= 0) {
      const text = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      line(text);
    }
  });
}
