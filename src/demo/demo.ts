/**
 * `npm start`: the daemon on the built-in demo provider. Starts the provider
 * emulator, signs three demo accounts in there (one Google-style, two
 * Microsoft-style), imports their grants with `mailtokend import` exactly as a
 * user migrating from another tool would, runs `mailtokend serve`, and prints
 * how to ask it for tokens. Tokens live two minutes, so refreshes show in the
 * log while you watch.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCa, startEmulator } from '../../emulator/index.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = join(root, 'dist', 'src', 'cli', 'mailtokend.js');
const cmsOauth = join(root, 'dist', 'src', 'cli', 'cms-oauth.js');
const dir = process.env.MAILTOKEND_DEMO_DIR ?? join(tmpdir(), `mailtokend-demo-${process.getuid?.() ?? 'user'}`);
const LIFETIME_S = 120;

const ACCOUNTS = [
  { user: 'alice@gmail.example', provider: 'google' as const },
  { user: 'bob@contoso.example', provider: 'microsoft' as const },
  { user: 'carol@fabrikam.example', provider: 'microsoft' as const },
];

rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'run'), { recursive: true, mode: 0o700 });
const { caFile } = await ensureCa(join(dir, 'ca'));
const emulator = await startEmulator({ caDir: join(dir, 'ca'), accessTokenLifetime: LIFETIME_S });
emulator.registerClient({ provider: 'google', clientId: 'demo-google-client', clientSecret: 'demo-google-secret' });
emulator.registerClient({ provider: 'microsoft', clientId: 'demo-microsoft-client' });

const socket = join(dir, 'run', 'mailtokend.sock');
const config = join(dir, 'config.toml');
writeFileSync(
  config,
  `# Written by the mailtokend demo (npm start); see doc/configuration.md.
state_dir = "${join(dir, 'state')}"
workers = 2
refresh_ahead = "30s"
admin_socket = "${join(dir, 'run', 'admin.sock')}"

[[socket]]
path = "${socket}"
protocols = ["SMTP", "IMAP", "POP"]
accounts = ["*"]

[provider.google]
auth_url = "${emulator.google.authUrl}"
token_url = "${emulator.google.tokenUrl}"
client_id = "demo-google-client"
client_secret = "demo-google-secret"

[provider.microsoft]
authority = "${emulator.microsoft.authority}"
client_id = "demo-microsoft-client"
${ACCOUNTS.map((a) => `\n[[account]]\nuser = "${a.user}"\nprovider = "${a.provider}"\n`).join('')}`,
  { mode: 0o600 },
);

const env = { ...process.env, NODE_EXTRA_CA_CERTS: caFile, MAILTOKEND_CONFIG: config };
for (const account of ACCOUNTS) {
  const scopes =
    account.provider === 'google'
      ? ['https://mail.google.com/']
      : ['https://outlook.office.com/SMTP.Send', 'https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/POP.AccessAsUser.All', 'offline_access'];
  const clientId = account.provider === 'google' ? 'demo-google-client' : 'demo-microsoft-client';
  const refreshToken = emulator.issueGrant({ provider: account.provider, user: account.user, clientId, scopes });
  const imported = spawnSync(process.execPath, [cli, 'import', account.user], { input: refreshToken, env, encoding: 'utf8' });
  if (imported.status !== 0) {
    process.stderr.write(`demo: importing ${account.user} failed:\n${imported.stderr}`);
    process.exit(1);
  }
}

const daemon = spawn(process.execPath, [cli, 'serve'], {
  env: { ...env, MAILTOKEND_LOG_FORMAT: process.env.MAILTOKEND_LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json') },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let announced = false;
daemon.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (!announced && /"msg":"ready"|: ready/.test(chunk.toString('utf8').replace(/\x1b\[[0-9;]*m/g, ''))) {
    announced = true;
    process.stdout.write(instructions());
  }
});

function instructions(): string {
  const node = process.execPath === '/usr/bin/node' ? 'node' : process.execPath;
  return `
──────────────────────────────────────────────────────────────────────────────
 mailtokend is serving ${ACCOUNTS.length} demo accounts on ${socket}
 (provider: the built-in emulator at ${emulator.url}; tokens live ${LIFETIME_S} s)

 In another terminal, ask it for tokens:

   ${node} ${cmsOauth} --cms_sock ${socket} --user alice@gmail.example --output token
   printf 'SMTP bob@contoso.example' | nc -U -N ${socket}; echo
   printf 'IMAP,b64 carol@fabrikam.example' | nc -U -N ${socket}; echo
   exim -be '\${readsocket{${socket}}{SMTP bob@contoso.example}}'
   MAILTOKEND_CONFIG=${config} ${node} ${cli} status

 Press Ctrl-C to stop.
──────────────────────────────────────────────────────────────────────────────
`;
}

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  daemon.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
daemon.on('exit', (code) => {
  void emulator.close().then(() => process.exit(code ?? 0));
});
