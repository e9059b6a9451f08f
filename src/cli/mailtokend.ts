#!/usr/bin/env -S node --single-threaded-gc
// The flag (it cannot be set once Node runs, nor through NODE_OPTIONS) moves V8's garbage
// collection onto the main thread: serving thousands of accounts, the helper threads'
// concurrent marking added 10–35 % to the CPU of each request (doc/benchmarks.md).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT, fail } from './context.js';

const HELP = `usage: mailtokend COMMAND [options]

An OAuth2 credential broker for mail: keeps Gmail and Office 365 tokens
fresh and serves XOAUTH2 strings to exim, msmtp, mutt and friends over UNIX
sockets (cloud_mdir_sync compatible).

commands:
  serve             run the daemon in the foreground
  import USER       store a refresh token read from stdin (migration)
  token USER        print USER's token (XOAUTH2 string by default)
  status [USER...]  show every account's state (no tokens)
  refresh USER      refresh USER's token now (--all: every account, rate-limited)
  revoke USER       forget USER's grant (--remote: also at the provider)
  reload            make the daemon re-read its config (as SIGHUP, but reports)
  shutdown          stop the daemon cleanly (as SIGTERM, waits for the exit)
  graph             print the account machine as Mermaid (--dot: Graphviz)
  login USER        sign USER in (browser; --device or --paste without one)

common options:
  -c, --config FILE  config file (default $XDG_CONFIG_HOME/mailtokend/config.toml,
                     or $MAILTOKEND_CONFIG)
  -h, --help         help for mailtokend or for a command

Documentation: doc/ in the source tree; error codes: doc/errors.md.`;

type Command = (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>;

// Each command loads only its own module: `mailtokend token` stays quick.
const COMMANDS: Record<string, () => Promise<{ run: Command; help: string }>> = {
  serve: async () => {
    const m = await import('./serve.js');
    return { run: m.serve, help: m.SERVE_HELP };
  },
  import: async () => {
    const m = await import('./import.js');
    return { run: m.importGrant, help: m.IMPORT_HELP };
  },
  token: async () => {
    const m = await import('./token.js');
    return { run: m.token, help: m.TOKEN_HELP };
  },
  status: async () => {
    const m = await import('./status.js');
    return { run: m.status, help: m.STATUS_HELP };
  },
  refresh: async () => {
    const m = await import('./actions.js');
    return { run: (argv, env) => m.accountAction('refresh', argv, env), help: m.REFRESH_HELP };
  },
  login: async () => {
    const m = await import('./login.js');
    return { run: m.login, help: m.LOGIN_HELP };
  },
  revoke: async () => {
    const m = await import('./actions.js');
    return { run: (argv, env) => m.accountAction('revoke', argv, env), help: m.REVOKE_HELP };
  },
  reload: async () => {
    const m = await import('./reload.js');
    return { run: m.reload, help: m.RELOAD_HELP };
  },
  shutdown: async () => {
    const m = await import('./shutdown.js');
    return { run: m.shutdown, help: m.SHUTDOWN_HELP };
  },
  graph: async () => {
    const m = await import('./graph.js');
    return { run: (argv) => m.graph(argv), help: m.GRAPH_HELP };
  },
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-V') {
    const { VERSION } = await import('../version.js');
    process.stdout.write(`mailtokend ${VERSION}\n`);
    return EXIT.ok;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`mailtokend: unknown command "${name}"\n\n${HELP}\n`);
    return EXIT.usage;
  }
  const command = await load();
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(`${command.help}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, env);
  } catch (error) {
    return fail(error);
  }
}

function isEntryPoint(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.exitCode = fail(error);
    },
  );
}
