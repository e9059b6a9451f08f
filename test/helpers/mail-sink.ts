/**
 * The relay behind the test Dovecot's submission service: plain SMTP on
 * 127.0.0.1 that stores every message together with the login Dovecot
 * forwards with XCLIENT (`submission_relay_trusted = yes`). Dovecot only
 * relays after its oauth2 passdb accepted the client's bearer token, so a
 * message here with `login` USER was sent by a client that authenticated
 * as USER.
 */
import { createServer, type Socket } from 'node:net';

export interface SunkMessage {
  /** The user Dovecot authenticated (XCLIENT LOGIN), if it said. */
  login: string | undefined;
  mailFrom: string;
  rcptTo: string[];
  data: string;
}

export interface MailSink {
  readonly port: number;
  readonly messages: SunkMessage[];
  readonly transcript: string[];
  close(): Promise<void>;
}

export async function startMailSink(): Promise<MailSink> {
  const messages: SunkMessage[] = [];
  const transcript: string[] = [];
  const open = new Set<Socket>();
  const server = createServer((conn) => {
    open.add(conn);
    conn.on('close', () => open.delete(conn));
    conn.on('error', () => conn.destroy());
    session(conn, messages, transcript);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    messages,
    transcript,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of open) c.destroy();
        server.close(() => resolve());
      }),
  };
}

function session(conn: Socket, messages: SunkMessage[], transcript: string[]): void {
  let login: string | undefined;
  let mail: { from: string; to: string[] } | undefined;
  let data: string[] | undefined;
  let buffer = '';
  const reply = (text: string): void => void conn.write(`${text}\r\n`);
  const greet = (): void => reply('220 sink.test ESMTP');
  const line = (text: string): void => {
    transcript.push(text.length > 200 ? `${text.slice(0, 200)}…` : text);
    if (data) {
      if (text === '.') {
        messages.push({ login, mailFrom: mail?.from ?? '', rcptTo: mail?.to ?? [], data: data.join('\n') });
        data = undefined;
        mail = undefined;
        return reply('250 2.0.0 OK stored');
      }
      data.push(text.startsWith('..') ? text.slice(1) : text);
      return;
    }
    const [verb = '', ...args] = text.split(' ');
    switch (verb.toUpperCase()) {
      case 'EHLO':
        return void conn.write('250-sink.test\r\n250-XCLIENT ADDR PORT PROTO HELO LOGIN TTL TIMEOUT DESTADDR DESTPORT\r\n250-8BITMIME\r\n250 SIZE 50000000\r\n');
      case 'HELO':
        return reply('250 sink.test');
      case 'XCLIENT':
        for (const attr of args) {
          const eq = attr.indexOf('=');
          if (attr.slice(0, eq).toUpperCase() === 'LOGIN') {
            const value = decodeXtext(attr.slice(eq + 1));
            login = value === '[UNAVAILABLE]' ? undefined : value;
          }
        }
        // XCLIENT starts a new session: greet again.
        return greet();
      case 'MAIL': {
        const from = /^FROM:<([^>]*)>/i.exec(args.join(' '));
        mail = { from: from?.[1] ?? '', to: [] };
        return reply('250 2.1.0 OK');
      }
      case 'RCPT': {
        const to = /^TO:<([^>]*)>/i.exec(args.join(' '));
        if (!mail) return reply('503 5.5.1 MAIL first');
        mail.to.push(to?.[1] ?? '');
        return reply('250 2.1.5 OK');
      }
      case 'DATA':
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
  greet();
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

/** RFC 3461 xtext: `+HH` escapes. */
function decodeXtext(text: string): string {
  return text.replace(/\+([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
