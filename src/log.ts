import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config/types.js';
import { ScrubbingStream } from './ops/redact.js';

export type { Logger } from 'pino';

/**
 * Field names that may carry a secret. Nothing should ever log them; if a
 * future change does, pino replaces the value before it is written.
 */
const SECRET_FIELDS = [
  'accessToken', 'refreshToken', 'clientSecret', 'token', 'code', 'secret', 'password', 'authorization',
  'access_token', 'refresh_token', 'client_secret', 'id_token',
];

export type LogFormat = 'json' | 'pretty';

/** JSON lines for journald and log shippers; a readable line when a person watches a terminal. */
export function logFormatFor(env: NodeJS.ProcessEnv, stream: { isTTY?: boolean }): LogFormat {
  const asked = env.MAILTOKEND_LOG_FORMAT;
  if (asked === 'json' || asked === 'pretty') return asked;
  return stream.isTTY ? 'pretty' : 'json';
}

export function createLogger(level: LogLevel, format: LogFormat = 'json', destination: NodeJS.WritableStream = process.stdout): Logger {
  const options = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`)], censor: '[redacted]' },
  };
  // Every line passes the secret scrubber (src/ops/redact.ts) on its way out, whatever the format.
  const scrubbed = new ScrubbingStream(destination);
  if (format === 'pretty') {
    return pino(options, pretty({ destination: scrubbed, sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l', colorize: (destination as { isTTY?: boolean }).isTTY === true || process.env.FORCE_COLOR === '1' }));
  }
  return pino(options, scrubbed);
}
