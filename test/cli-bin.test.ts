import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const BIN = fileURLToPath(new URL('../src/cli/mailtokend.js', import.meta.url));
const run = promisify(execFile);

test('the mailtokend bin starts through its own #! line, with the Node flags it names', async () => {
  const first = readFileSync(BIN, 'utf8').split('\n', 1)[0]!;
  assert.match(first, /^#!\/usr\/bin\/env -S node --single-threaded-gc$/);
  // What the kernel runs for an installed (executable) bin: the interpreter line, then the file.
  const [interpreter, ...args] = first.slice(2).split(' ');
  const { stdout } = await run(interpreter!, [...args, BIN, '--help']);
  assert.match(stdout, /^usage: mailtokend COMMAND/);
});

test.run();
