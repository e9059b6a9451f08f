import { parseArgs } from 'node:util';
import { adminCall } from '../admin/client.js';
import type { ActionResult } from '../host/messages.js';
import { configPathFrom, EXIT, readConfig, UsageError } from './context.js';

export const REFRESH_HELP = `usage: mailtokend refresh USER [--config FILE]
       mailtokend refresh --all [--rate N] [--provider NAME] [--state STATE] [--no-wait]

Refresh USER's access token now and report the outcome.

--all         refresh every account that has a grant (unauthenticated ones
              need a sign-in and are skipped), paced so a provider's rate
              limit is not hit; waits and reports, exits 1 if any failed
--rate N      refreshes started per second with --all (default 5, at most 100)
--provider P  --state S   only accounts of provider section P / in state S
--no-wait     start --all in the daemon and return; the outcome is logged`;

export const REVOKE_HELP = `usage: mailtokend revoke USER [--remote] [--config FILE]

Forget USER's grant: the account becomes unauthenticated until it is signed
in or a grant is imported again.

--remote  first revoke the grant at the provider, so the refresh token is
          dead everywhere. Google: posted to the provider's revoke_url; if
          Google cannot be reached the grant is kept and the command fails,
          so it can be tried again. Microsoft has no endpoint that revokes a
          single grant: the grant is forgotten here and the command says
          where to remove the app's access by hand.`;

export async function accountAction(cmd: 'refresh' | 'revoke', argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (cmd === 'refresh' && argv.includes('--all')) return (await import('./refresh-all.js')).refreshAll(argv, env);
  const { values, positionals } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, ...(cmd === 'revoke' ? { remote: { type: 'boolean' as const } } : {}) },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError(`${cmd} takes exactly one USER`);
  const user = positionals[0]!;
  const config = await readConfig(configPathFrom(values.config, env), env);
  const remote = 'remote' in values && values.remote === true;
  const { result } = await adminCall<{ result: ActionResult }>(config.adminSocket, remote ? { cmd, user, remote } : { cmd, user });
  if (result.remote === 'unsupported') process.stderr.write(`mailtokend: warning: ${user}: the grant was not revoked at the provider\n`);
  const why = result.error && !result.ok ? ` (${result.error.code}: ${result.error.message})` : '';
  process.stdout.write(`${user}: ${result.message}${why}\n`);
  return result.ok ? EXIT.ok : EXIT.failure;
}
