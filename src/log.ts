import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/types.js';

export type { Logger } from 'pino';

/**
 * Field names that may carry a secret. Nothing should ever log them; if a
 * future change does, pino replaces the value before it is written.
 */
const SECRET_FIELDS = [
  'accessToken', 'refreshToken', 'clientSecret', 'token', 'code', 'secret', 'password', 'authorization',
  'access_token', 'refresh_token', 'client_secret', 'id_token',
];

export function createLogger(level: LogLevel, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`)], censor: '[redacted]' },
    },
    destination as pino.DestinationStream,
  );
}
