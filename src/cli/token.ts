import { parseArgs } from 'node:util';
import { adminCall } from '../admin/client.js';
import { formatReply, type Proto, type ReplyFormat } from '../protocol.js';
import { configPathFrom, EXIT, readConfig, UsageError } from './context.js';

export const TOKEN_HELP = `usage: mailtokend token USER [--proto SMTP|IMAP|POP] [--output xoauth2|xoauth2-b64|token|oauthbearer] [--config FILE]

Ask the running daemon for USER's access token (through the admin socket)
and print it: by default the XOAUTH2 string, as an MTA socket would send it.`;

const OUTPUTS: Record<string, ReplyFormat> = { xoauth2: 'xoauth2', 'xoauth2-b64': 'b64', token: 'token', oauthbearer: 'oauthbearer' };

export async function token(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, proto: { type: 'string', default: 'SMTP' }, output: { type: 'string', default: 'xoauth2' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('token takes exactly one USER');
  const proto = values.proto.toUpperCase();
  if (proto !== 'SMTP' && proto !== 'IMAP' && proto !== 'POP') throw new UsageError(`--proto must be SMTP, IMAP or POP, not ${values.proto}`);
  const format = OUTPUTS[values.output];
  if (!format) throw new UsageError(`--output must be one of ${Object.keys(OUTPUTS).join(', ')}`);
  const user = positionals[0]!;
  const config = await readConfig(configPathFrom(values.config, env), env);
  const response = await adminCall<{ accessToken: string }>(config.adminSocket, { cmd: 'token', user });
  const reply = formatReply({ proto: proto as Proto, user, format, errReply: false }, response.accessToken);
  process.stdout.write(Buffer.concat([reply, Buffer.from('\n')]));
  return EXIT.ok;
}
