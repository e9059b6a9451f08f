#!/usr/bin/env node
/**
 * Runs the provider emulator as its own process:
 *
 *   node dist/emulator/cli.js --ca-dir DIR [--host H] [--port N] [--lifetime S]
 *        [--rotation rotate|single-use|none] [--device-interval S]
 *        [--device-approve-after MS] [--log]
 *
 * Prints one JSON line ({"url", "caFile", "google", "microsoft", "pid"}) on
 * stdout once it listens, logs requests to stderr with --log, and runs until
 * SIGTERM or SIGINT. Drive it through /_emulator/ (see EmulatorClient).
 */
import { parseArgs } from 'node:util';
import { startEmulator, type EmulatorOptions, type Rotation } from './index.js';

function usage(message: string): never {
  process.stderr.write(`emulator: ${message}\nusage: cli.js --ca-dir DIR [--host H] [--port N] [--lifetime S] [--rotation rotate|single-use|none] [--device-interval S] [--device-approve-after MS] [--log]\n`);
  process.exit(2);
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) usage(`--${name} must be a number >= 0`);
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'ca-dir': { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        lifetime: { type: 'string' },
        rotation: { type: 'string' },
        'device-interval': { type: 'string' },
        'device-approve-after': { type: 'string' },
        log: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    usage(e instanceof Error ? e.message : String(e));
  }
  const caDir = values['ca-dir'];
  if (!caDir) usage('--ca-dir is required');
  const rotation = values.rotation;
  if (rotation !== undefined && !['rotate', 'single-use', 'none'].includes(rotation)) {
    usage('--rotation must be rotate, single-use or none');
  }
  const opts: EmulatorOptions = { caDir };
  if (values.host) opts.host = values.host;
  const port = num(values.port, 'port');
  if (port !== undefined) opts.port = port;
  const lifetime = num(values.lifetime, 'lifetime');
  if (lifetime !== undefined) opts.accessTokenLifetime = lifetime;
  if (rotation) opts.refreshTokenRotation = rotation as Rotation;
  const interval = num(values['device-interval'], 'device-interval');
  const approveAfter = num(values['device-approve-after'], 'device-approve-after');
  opts.deviceCode = {
    ...(interval === undefined ? {} : { interval }),
    ...(approveAfter === undefined ? {} : { approveAfterMs: approveAfter }),
  };
  if (values.log) opts.log = (line) => process.stderr.write(`${line}\n`);

  const emu = await startEmulator(opts);
  process.stdout.write(
    `${JSON.stringify({ url: emu.url, caFile: emu.caFile, google: emu.google, microsoft: emu.microsoft, pid: process.pid })}\n`,
  );
  const stop = (): void => {
    emu.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`emulator: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
