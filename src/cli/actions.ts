import { parseArgs } from 'node:util';
import { adminCall } from '../admin/client.js';
import type { ActionResult } from '../host/messages.js';
import { configPathFrom, EXIT, readConfig, UsageError } from './context.js';

export const REFRESH_HELP = `usage: mailtokend refresh USER [--config FILE]

Refresh USER's access token now and report the outcome.`;

export const REVOKE_HELP = `usage: mailtokend revoke USER [--config FILE]

Forget USER's grant: the account becomes unauthenticated until it is signed
in or a grant is imported again.`;

export async function accountAction(cmd: 'refresh' | 'revoke', argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, allowPositionals: true });
  if (positionals.length !== 1) throw new UsageError(`${cmd} takes exactly one USER`);
  const user = positionals[0]!;
  const config = await readConfig(configPathFrom(values.config, env), env);
  const { result } = await adminCall<{ result: ActionResult }>(config.adminSocket, { cmd, user });
  const why = result.error && !result.ok ? ` (${result.error.code}: ${result.error.message})` : '';
  process.stdout.write(`${user}: ${result.message}${why}\n`);
  return result.ok ? EXIT.ok : EXIT.failure;
}
