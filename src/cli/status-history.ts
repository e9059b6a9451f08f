import { adminCall } from '../admin/client.js';
import { formatHistory, type Transition } from '../history/history.js';
import { EXIT, UsageError } from './context.js';

/** `mailtokend status USER... --history`: each account's recorded transitions. */
export async function statusHistory(adminSocket: string, users: string[], json: boolean): Promise<number> {
  if (users.length === 0) throw new UsageError('--history needs at least one USER');
  const results: Array<{ user: string; history: Transition[] }> = [];
  for (const user of users) results.push(await adminCall<{ user: string; history: Transition[] }>(adminSocket, { cmd: 'history', user }));
  if (json) process.stdout.write(`${JSON.stringify(results.map(({ user, history }) => ({ user, history })), null, 2)}\n`);
  else process.stdout.write(results.map(({ user, history }) => formatHistory(user, history)).join('\n'));
  return EXIT.ok;
}
