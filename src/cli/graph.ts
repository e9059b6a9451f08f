import { parseArgs } from 'node:util';
import { accountMachine } from '../../actors/account.js';
import { describeMachine, toDot, toMermaid } from '../dashboard/graph.js';
import { EXIT } from './context.js';

export const GRAPH_HELP = `usage: mailtokend graph [--dot | --json]

Print the account machine (actors/account.ts) as a Mermaid state diagram,
generated from the machine definition itself: its states, every transition
that changes state with its event (timers as "after DELAY", the refresh as
"done refresh" / "error refresh") and guard in brackets.

--dot   Graphviz DOT instead (mailtokend graph --dot | dot -Tsvg > account.svg)
--json  the description the dashboard draws`;

export async function graph(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { dot: { type: 'boolean' }, json: { type: 'boolean' } }, strict: true });
  const described = describeMachine(accountMachine);
  const text = values.json ? `${JSON.stringify(described, null, 2)}\n` : values.dot ? toDot(described) : toMermaid(described);
  process.stdout.write(text);
  return EXIT.ok;
}
