import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { adminCall } from '../admin/client.js';
import { configPathFrom, EXIT, readConfig, UsageError } from './context.js';

export const SHUTDOWN_HELP = `usage: mailtokend shutdown [--no-wait] [--timeout SECONDS] [--config FILE]

Stop the running daemon cleanly, as SIGTERM does: it stops accepting
connections, answers every request already received, lets refreshes in
flight finish and stores their grants, then exits 0. By default the command
waits until the daemon process has exited (at most --timeout, default 60 s).`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function shutdown(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, 'no-wait': { type: 'boolean' }, timeout: { type: 'string' } },
    strict: true,
  });
  const timeoutS = values.timeout === undefined ? 60 : Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError('--timeout must be a number of seconds above 0');
  const config = await readConfig(configPathFrom(values.config, env), env);
  const { pid } = await adminCall<{ pid: number }>(config.adminSocket, { cmd: 'shutdown' });
  if (values['no-wait']) {
    process.stdout.write(`mailtokend (pid ${pid}) is shutting down\n`);
    return EXIT.ok;
  }
  const deadline = Date.now() + timeoutS * 1000;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.stderr.write(`mailtokend: the daemon (pid ${pid}) is still running after ${timeoutS} s\n`);
      return EXIT.failure;
    }
    await sleep(50);
  }
  process.stdout.write(`mailtokend (pid ${pid}) stopped\n`);
  return EXIT.ok;
}
