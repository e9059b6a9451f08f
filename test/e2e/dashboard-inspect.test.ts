/**
 * `mailtokend serve --inspect`: the account actors reach a Stately inspector
 * over WebSocket. A WebSocket server stands in for Stately's relay and
 * records everything the daemon sends: each account appears as an actor,
 * its transitions arrive as events and snapshots with the machine's state
 * names, and no token or secret is ever in the stream.
 */
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from 'ws';
import { DaemonProcess, Harness, MAILTOKEND, setup, waitUntil } from '../helpers/daemon.js';

const ALICE = 'alice@contoso.example';
const GOOGLE = 'gina@gmail.example';

let h: Harness;
let relay: WebSocketServer;
const received: string[] = [];

setup(test, async () => {
  relay = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => relay.once('listening', () => resolve()));
  relay.on('connection', (socket) => socket.on('message', (data) => received.push(String(data))));
  h = await Harness.create({
    accounts: [
      { user: ALICE, provider: 'microsoft' },
      { user: GOOGLE, provider: 'google' },
    ],
  });
  const address = relay.address() as { port: number };
  const child = spawn(process.execPath, [MAILTOKEND, 'serve', '--inspect', '-c', h.configPath], {
    env: h.env({ MAILTOKEND_INSPECT_URL: `ws://127.0.0.1:${address.port}` }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const daemon = new DaemonProcess(child);
  h.runs.push(daemon);
  h.daemon = daemon;
  await daemon.waitForLog('ready', { msg: 'ready' });
  await h.waitForState(ALICE, 'valid');
  await h.waitForState(GOOGLE, 'valid');
});

test.after(async () => {
  await h?.close();
  await new Promise<void>((resolve) => relay?.close(() => resolve()));
});

interface InspectMessage {
  type?: string;
  sessionId?: string;
  snapshot?: { value?: unknown };
  event?: { type?: string };
}

const messages = (): InspectMessage[] => received.map((m) => JSON.parse(m) as InspectMessage);

test('every account appears as an actor in the inspector, with its state', async () => {
  await waitUntil('both accounts registered as actors', () => {
    const ids = new Set(messages().filter((m) => m.type === '@xstate.actor').map((m) => m.sessionId));
    return ids.has(`account:${ALICE}`) && ids.has(`account:${GOOGLE}`);
  });
  const states = messages()
    .filter((m) => m.sessionId === `account:${ALICE}` && m.snapshot)
    .map((m) => m.snapshot!.value);
  assert.ok(states.includes('valid'), `alice's snapshots name machine states: ${JSON.stringify(states)}`);
});

test('a forced refresh arrives as events and snapshots refreshing → valid', async () => {
  const before = received.length;
  h.emu.setFault({ provider: 'microsoft', kind: 'delay', ms: 300, count: 1 });
  const refreshed = await h.cli(['refresh', ALICE]);
  assert.is(refreshed.code, 0, refreshed.stderr);
  await waitUntil('refresh events for alice', () => {
    const later = messages().slice(before).filter((m) => m.sessionId === `account:${ALICE}`);
    const values = later.filter((m) => m.snapshot).map((m) => m.snapshot!.value);
    return values.includes('refreshing') && values.includes('valid') && later.some((m) => m.type === '@xstate.event');
  });
  const events = messages()
    .slice(before)
    .filter((m) => m.type === '@xstate.event' && m.sessionId === `account:${ALICE}`)
    .map((m) => m.event?.type);
  assert.ok(events.includes('refresh'), `events: ${JSON.stringify(events)}`);
  assert.ok(events.includes('refresh-succeeded'), `events: ${JSON.stringify(events)}`);
});

test('no token or secret is ever sent to the inspector', () => {
  const stream = received.join('\n');
  assert.ok(stream.length > 0);
  const leaked = h.emu.secrets().filter((secret) => stream.includes(secret));
  assert.equal(leaked, [], 'no emulator-issued secret in the inspector stream');
  assert.not.match(stream, /eyJ[A-Za-z0-9_-]{10,}\.|ya29\./, 'nothing token-shaped');
});

test.run();
