import { execFileSync } from 'node:child_process';
import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { MailtokendError } from '../errors.js';

/** Errors about socket files; codes in doc/errors.md. */
export class SocketFileError extends MailtokendError {}

/**
 * Makes `path` ready to bind: creates its directory if missing and removes a
 * stale socket file left by a crash, but never a live daemon's socket and
 * never a file that is not a socket.
 */
export async function prepareSocketPath(path: string, gid: number | undefined): Promise<void> {
  const dir = dirname(path);
  try {
    await lstat(dir);
  } catch {
    // exim reads the socket as Debian-exim: the directory must let the group in (CMS: 0750).
    await mkdir(dir, { recursive: true, mode: gid === undefined ? 0o700 : 0o750 });
    if (gid !== undefined) await chown(dir, -1, gid);
  }
  let stat;
  try {
    stat = await lstat(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) {
    throw new SocketFileError('socket-path-taken', `${path} exists and is not a socket; refusing to replace it`);
  }
  if (await answers(path)) {
    throw new SocketFileError('socket-in-use', `another daemon is serving ${path}; stop it first or choose another path`);
  }
  await unlink(path);
}

/**
 * Refuses to go on when another daemon answers on any of `paths`. Called
 * before the worker pool starts: a second daemon's workers would refresh every
 * account at once and use up single-use refresh tokens the running daemon
 * holds in memory.
 */
export async function assertNoDaemonOn(paths: string[]): Promise<void> {
  for (const path of paths) {
    let stat;
    try {
      stat = await lstat(path);
    } catch {
      continue;
    }
    if (stat.isSocket() && (await answers(path))) {
      throw new SocketFileError('socket-in-use', `another daemon is serving ${path}; stop it first or choose another path`);
    }
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    const done = (alive: boolean) => {
      probe.destroy();
      resolve(alive);
    };
    probe.setTimeout(1_000, () => done(true));
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
  });
}

export async function applySocketPermissions(path: string, mode: number, gid: number | undefined): Promise<void> {
  if (gid !== undefined) await chown(path, -1, gid);
  await chmod(path, mode);
}

/** A group name or number to a gid; names go through NSS (getent), as ls and chgrp do. */
export function resolveGroup(group: string | undefined): number | undefined {
  if (group === undefined) return undefined;
  if (/^\d+$/.test(group)) return Number(group);
  try {
    const line = execFileSync('getent', ['group', group], { encoding: 'utf8', timeout: 5_000 });
    const gid = Number(line.split(':')[2]);
    if (Number.isInteger(gid)) return gid;
  } catch {
    // fall through to the error below
  }
  throw new SocketFileError('socket-group', `group "${group}" does not exist on this system`);
}
