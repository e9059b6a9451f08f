/**
 * `npm test`: makes a CA for this run (the emulator's certificates are signed
 * by it), trusts it in the uvu process through NODE_EXTRA_CA_CERTS (read only
 * at process start, hence the child), runs every *.test.js, and ends with a
 * plain "N passed, N failed" line.
 *
 *   node dist/test/run.js [PATTERN]     e.g. node dist/test/run.js 'e2e'
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCa } from '../emulator/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const filter = process.argv[2];
const caDir = mkdtempSync(join(tmpdir(), 'mailtokend-test-ca-'));
const { caFile } = await ensureCa(caDir);
const pattern = filter ? `${filter}.*\\.test\\.js$` : '\\.test\\.js$';
const uvu = join(root, 'node_modules', 'uvu', 'bin.js');
// Plain output: the closing counts are read from it below.
const env: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: caFile, MAILTOKEND_TEST_CA_DIR: caDir, NO_COLOR: '1' };
delete env.FORCE_COLOR;
const testDir = fileURLToPath(new URL('.', import.meta.url));
const child = spawn(process.execPath, [uvu, testDir, pattern], {
  cwd: root,
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let output = '';
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  output += chunk.toString('utf8');
});
const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
rmSync(caDir, { recursive: true, force: true });
const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const failed = Math.max(0, total - passed - skipped) + (code !== 0 && total === passed ? 1 : 0);
process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = code !== 0 || failed > 0 || total === 0 ? 1 : 0;
