/**
 * Test CA for the emulator, made with the openssl CLI because Node has no API
 * to create X.509 certificates. The CA is made once per directory and reused;
 * each emulator start gets a fresh server certificate signed by it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPENSSL = process.env.MAILTOKEND_OPENSSL ?? 'openssl';

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run(OPENSSL, args, { timeout: 30_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/**
 * Makes `caDir` (mode 0700) with a CA key (0600) and certificate unless both
 * are already there. Safe against a concurrent call for the same directory:
 * each writes to its own temporary names and renames into place.
 */
export async function ensureCa(caDir: string): Promise<{ caFile: string; keyFile: string }> {
  const caFile = join(caDir, 'ca.pem');
  const keyFile = join(caDir, 'ca.key');
  await mkdir(caDir, { recursive: true, mode: 0o700 });
  if ((await exists(caFile)) && (await exists(keyFile))) return { caFile, keyFile };
  const tag = randomBytes(6).toString('hex');
  const tmpKey = join(caDir, `.ca.key.${tag}`);
  const tmpCert = join(caDir, `.ca.pem.${tag}`);
  try {
    await openssl([
      'req', '-x509', '-new', '-nodes',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-keyout', tmpKey, '-out', tmpCert, '-days', '3650',
      '-subj', `/CN=mailtokend emulator test CA ${tag}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await chmod(tmpKey, 0o600);
    // A concurrent caller may have won the race: keep its pair so the cert
    // and key always belong together.
    if ((await exists(caFile)) && (await exists(keyFile))) return { caFile, keyFile };
    await rename(tmpKey, keyFile);
    await rename(tmpCert, caFile);
  } finally {
    await rm(tmpKey, { force: true });
    await rm(tmpCert, { force: true });
  }
  return { caFile, keyFile };
}

/** Server key and certificate (PEM) for 127.0.0.1, localhost and ::1, signed by the CA in caDir. */
export async function issueServerCert(caDir: string, extraHost?: string): Promise<{ key: string; cert: string }> {
  const { caFile, keyFile } = await ensureCa(caDir);
  const work = await mkdtemp(join(tmpdir(), 'mailtokend-emu-'));
  try {
    const sans = ['IP:127.0.0.1', 'DNS:localhost', 'IP:::1'];
    if (extraHost && !['127.0.0.1', 'localhost', '::1', '0.0.0.0', '::'].includes(extraHost)) {
      sans.push(/^[\d.]+$|:/.test(extraHost) ? `IP:${extraHost}` : `DNS:${extraHost}`);
    }
    const ext = join(work, 'ext.cnf');
    await writeFile(
      ext,
      [
        `subjectAltName=${sans.join(',')}`,
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    const key = join(work, 'server.key');
    const csr = join(work, 'server.csr');
    const cert = join(work, 'server.pem');
    await openssl([
      'req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1',
    ]);
    // A random serial instead of -CAcreateserial: no .srl file racing in caDir.
    await openssl([
      'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', keyFile,
      '-set_serial', `0x${randomBytes(12).toString('hex')}`,
      '-days', '30', '-extfile', ext, '-out', cert,
    ]);
    return { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
