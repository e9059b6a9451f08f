/**
 * Scenario 8, secrets and access. Runs last: first a world of its own that
 * produces every kind of secret (a browser sign-in for an authorization
 * code, Microsoft refresh-token rotation, a confidential client's secret)
 * and checks access: each socket serves exactly the accounts and protocols
 * it lists, the web listener refuses foreign Host and Origin, state files are
 * 0600, sockets have their configured mode and group. Then it searches
 * everything the whole suite collected (evidence.ts: every daemon log, page,
 * metrics scrape, error reply, state file) for every secret any scenario's
 * emulator issued.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { browse, expectPage, rawRequest } from '../test/helpers/signin.js';
import { filesUnder, modeOf } from '../test/helpers/daemon.js';
import { collected } from './evidence.js';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from './types.js';
import { World, type AccountDef } from './world.js';

const ANN = 'ann@gmail.test';
const DAN = 'dan@contoso.test';
const CARL = 'carl@gmail.test';
const EVE = 'eve@contoso.test';
const PROTOS = ['SMTP', 'IMAP', 'POP'];
/** Who each socket lists (see the config below). */
const LISTED: Record<string, { users: string[]; protos: string[] }> = {
  exim: { users: [ANN, DAN, EVE], protos: ['SMTP'] },
  mutt: { users: [CARL], protos: ['SMTP', 'IMAP'] },
};

export const secrets: Scenario = {
  id: 'secrets',
  title: 'Secrets and access',
  async run(o: ScenarioOptions): Promise<ScenarioResult> {
    const started = performance.now();
    const mailGid = Number(execFileSync('getent', ['group', 'mail'], { encoding: 'utf8' }).split(':')[2]);
    const accounts: AccountDef[] = [
      { user: ANN, provider: 'google' },
      { user: DAN, provider: 'microsoft', confidential: true },
      { user: CARL, provider: 'google' },
      { user: EVE, provider: 'microsoft', grant: false },
    ];
    // Tokens of a few seconds: Microsoft refresh tokens rotate while the scenario runs.
    const world = await World.create({
      workDir: o.workDir,
      name: 'secrets',
      accounts,
      lifetime: o.fast ? 4 : 6,
      logLevel: 'debug',
      sockets: [
        { name: 'exim', subdir: 'exim', mode: '0660', group: 'mail', protocols: ['SMTP'], accounts: [ANN, '@contoso.test'] },
        { name: 'mutt', protocols: ['IMAP', 'SMTP'], accounts: [CARL] },
      ],
    });
    const figures: Figure[] = [];
    const notes: string[] = [];
    try {
      const web = world.webUrl();
      o.log('secrets: browser sign-in for an authorization code');
      const page = expectPage(await browse(`${web}/auth/${encodeURIComponent(EVE)}`));
      world.evidence('sign-in pages', page.text);
      await world.waitAllValid(20_000);

      o.log('secrets: every socket × account × protocol');
      let foreignServed = 0;
      let listedRefused = 0;
      for (const [socket, listed] of Object.entries(LISTED)) {
        for (const user of [ANN, DAN, CARL, EVE, ANN.toUpperCase(), 'Carl@Gmail.Test']) {
          for (const proto of PROTOS) {
            for (const opt of o.fast ? ['', ',err'] : ['', ',err', ',b64', ',oauthbearer,err']) {
              const reply = await world.h.request(`${proto}${opt} ${user}`, socket);
              const allowed = listed.users.includes(user.toLowerCase()) && listed.protos.includes(proto);
              const text = reply.bytes.toString('latin1');
              const gotToken = reply.bytes.length > 0 && !text.startsWith('ERR ');
              if (!allowed && gotToken) {
                foreignServed++;
                notes.push(`${socket} served ${proto}${opt} ${user}`);
              }
              if (allowed && !gotToken) {
                listedRefused++;
                notes.push(`${socket} refused ${proto}${opt} ${user}: ${JSON.stringify(text.slice(0, 80))}`);
              }
              if (!gotToken) world.evidence(`reply to ${proto}${opt} ${user} on ${socket}`, text);
            }
          }
        }
      }
      figures.push(
        { name: 'requests a socket served for an account or protocol it does not list', value: foreignServed, bound: '= 0', ok: foreignServed === 0 },
        { name: 'requests a socket refused for an account and protocol it lists', value: listedRefused, bound: '= 0', ok: listedRefused === 0 },
      );

      o.log('secrets: foreign Host and Origin on the web listener');
      const foreign: Array<{ what: string; path: string; method?: string; headers: Record<string, string> }> = [
        { what: 'GET / with Host evil.example', path: '/', headers: { host: 'evil.example' } },
        { what: 'GET /metrics with Host evil.example', path: '/metrics', headers: { host: 'evil.example:80' } },
        { what: 'GET /api/accounts with Host 127.0.0.1.evil.example', path: '/api/accounts', headers: { host: '127.0.0.1.evil.example' } },
        { what: 'GET /auth/USER with Host attacker', path: `/auth/${encodeURIComponent(ANN)}`, headers: { host: 'attacker.test' } },
        { what: 'POST refresh with Origin evil.example', path: `/api/accounts/${encodeURIComponent(ANN)}/refresh`, method: 'POST', headers: { origin: 'http://evil.example' } },
        { what: 'POST revoke with Sec-Fetch-Site cross-site', path: `/api/accounts/${encodeURIComponent(ANN)}/revoke`, method: 'POST', headers: { 'sec-fetch-site': 'cross-site', origin: web } },
        { what: 'POST revoke with no Origin nor Referer', path: `/api/accounts/${encodeURIComponent(ANN)}/revoke`, method: 'POST', headers: {} },
        { what: 'POST /auth/USER with Referer evil.example', path: `/auth/${encodeURIComponent(ANN)}`, method: 'POST', headers: { referer: 'http://evil.example/page' } },
      ];
      let answered = 0;
      for (const f of foreign) {
        const r = await rawRequest(web, f.path, { method: f.method ?? 'GET', headers: f.headers });
        world.evidence(f.what, r.text);
        if (r.status !== 421 && r.status !== 403) {
          answered++;
          notes.push(`${f.what}: answered ${r.status}`);
        }
      }
      figures.push({ name: `foreign Host/Origin requests the web listener answered (of ${foreign.length})`, value: answered, bound: '= 0', ok: answered === 0 });
      // ann must still be valid: a refused revoke did nothing.
      const annServed = await world.served(ANN, 'SMTP', 'exim');
      figures.push({ name: 'account untouched by the refused cross-origin actions', value: annServed ? 'yes' : 'no', bound: 'yes', ok: annServed });

      o.log('secrets: pages, metrics and command output for the search');
      for (const path of ['/', '/metrics', '/api/accounts', `/api/accounts/${encodeURIComponent(DAN)}`, '/api/machine']) {
        const r = await fetch(`${web}${path}`);
        world.evidence(`GET ${path}`, await r.text());
      }
      for (const args of o.fast ? [['status', EVE, '--history']] : [['status'], ['status', DAN], ['refresh', DAN], ['status', EVE, '--history']]) {
        const r = await world.h.cli(args);
        world.evidence(`mailtokend ${args.join(' ')}`, `${r.out}\n${r.stderr}`);
      }
      // Let Microsoft's refresh tokens rotate at least once more (lifetime of seconds).
      if (!o.fast) await new Promise((resolve) => setTimeout(resolve, 6_000));
      await world.waitAllValid(20_000);

      o.log('secrets: file modes');
      const wrongModes: string[] = [];
      const state = world.h.stateDir;
      for (const file of filesUnder(state)) {
        if (lstatSync(file).isSocket()) continue;
        if (modeOf(file) !== '0600') wrongModes.push(`${file.slice(state.length + 1)} ${modeOf(file)}`);
      }
      for (const dir of new Set([state, ...filesUnder(state).map((f) => dirname(f))])) if (modeOf(dir) !== '0700') wrongModes.push(`${dir} ${modeOf(dir)}`);
      const keyFile = `${state}/store.key`;
      const hasKey = statSync(keyFile, { throwIfNoEntry: false }) !== undefined;
      figures.push({ name: `state files (store key included) not 0600, state dirs not 0700`, value: wrongModes.length, bound: '= 0', ok: wrongModes.length === 0 && hasKey });
      if (!hasKey) notes.push(`no store key at ${keyFile}`);
      notes.push(...wrongModes.map((w) => `mode: ${w}`));
      const exim = world.socket('exim');
      const sockets = [
        { what: 'exim socket 0660 group mail', ok: modeOf(exim) === '0660' && lstatSync(exim).gid === mailGid },
        { what: 'exim socket dir 0750 group mail', ok: modeOf(dirname(exim)) === '0750' && lstatSync(dirname(exim)).gid === mailGid },
        { what: 'mutt socket 0600 (default)', ok: modeOf(world.socket('mutt')) === '0600' },
        { what: 'admin socket 0600', ok: modeOf(world.h.adminSocket) === '0600' },
      ];
      const badSockets = sockets.filter((s) => !s.ok);
      figures.push({ name: 'sockets without their configured mode and group (of 4)', value: badSockets.length, bound: '= 0', ok: badSockets.length === 0 });
      notes.push(...badSockets.map((s) => `not as configured: ${s.what}`));

      const kinds = new Set<string>();
      for (const s of world.h.emu.secrets()) kinds.add(world.h.emu.lookupToken(s)?.kind ?? 'client secret');
      const wanted = ['access', 'refresh', 'code', 'client secret'];
      const missing = wanted.filter((k) => !kinds.has(k));
      figures.push({ name: 'kinds of secret issued in this scenario', value: [...kinds].sort().join(', '), bound: wanted.join(', '), ok: missing.length === 0 });
    } finally {
      await world.close();
    }

    o.log('secrets: searching everything the suite collected');
    const found = search();
    figures.push(
      { name: 'secrets searched for (issued or configured, whole and in pieces)', value: found.secrets, bound: '> 0', ok: found.secrets > 0 },
      { name: 'log lines, pages, replies and files searched (MiB)', value: Math.round((found.bytes / 2 ** 20) * 10) / 10, bound: '> 0', ok: found.bytes > 0 },
      { name: 'secrets found in any of them', value: found.leaks.length, bound: '= 0', ok: found.leaks.length === 0 },
    );
    notes.push(...found.leaks.slice(0, 10).map((l) => `leak: ${l}`));
    return { id: 'secrets', title: secrets.title, figures, seconds: (performance.now() - started) / 1000, notes };
  },
};

/** Every collected secret in every collected text and log file. */
function search(): { secrets: number; bytes: number; leaks: string[] } {
  const { secrets: values, texts, files } = collected();
  const haystacks = [...texts];
  for (const file of files) {
    try {
      haystacks.push({ label: file, text: readFileSync(file, 'latin1') });
    } catch (error) {
      return { secrets: values.size, bytes: 0, leaks: [`log file ${file} is gone: ${error instanceof Error ? error.message : String(error)}`] };
    }
  }
  return findSecrets(values, haystacks);
}

/** Where any of `values` (or any JWT) occurs in `haystacks`; secrets are shown by their first 6 characters only. */
export function findSecrets(values: ReadonlySet<string>, haystacks: ReadonlyArray<{ label: string; text: string }>): { secrets: number; bytes: number; leaks: string[] } {
  const leaks: string[] = [];
  let bytes = 0;
  for (const { label, text } of haystacks) {
    bytes += text.length;
    for (const value of values) if (text.includes(value)) leaks.push(`${value.slice(0, 6)}… in ${label}`);
    if (/eyJ[\w-]{8,}\.eyJ[\w-]{8,}/.test(text)) leaks.push(`a JWT in ${label}`);
  }
  return { secrets: values.size, bytes, leaks: [...new Set(leaks)] };
}
