import { createWebSocketInspector } from '@statelyai/inspect';
import type { DaemonContext } from '../daemon/context.js';
import type { AccountUpdate } from '../host/messages.js';

export const DEFAULT_INSPECT_URL = 'ws://localhost:8090';

/**
 * `mailtokend serve --inspect`: every account appears as an actor in
 * Stately's inspector, with each published transition as an event and a
 * snapshot. The account actors run in worker threads; what reaches the
 * inspector is what they publish to the main thread, with the token left
 * out (the context sent carries only facts, as the dashboard shows them).
 */
export function installInspector(context: DaemonContext): void {
  const url = context.env.MAILTOKEND_INSPECT_URL ?? DEFAULT_INSPECT_URL;
  const inspector = createWebSocketInspector({ url });
  const known = new Set<string>();
  context.log.warn({ url }, 'sending account transitions to a Stately inspector (--inspect); addresses and errors leave the daemon, tokens do not');
  context.events.on('account', (update: AccountUpdate) => {
    const id = `account:${update.key}`;
    const snapshot = {
      status: 'active' as const,
      value: update.state,
      context: {
        user: update.user,
        expiresAt: update.expiresAt,
        lastRefreshAt: update.lastRefreshAt,
        lastError: update.lastError && { code: update.lastError.code, message: update.lastError.message, at: update.lastError.at },
      },
    };
    if (!known.has(update.key)) {
      known.add(update.key);
      inspector.actor(id, snapshot);
      return;
    }
    inspector.event(id, { type: update.cause ?? 'update' });
    inspector.snapshot(id, snapshot);
  });
  context.onShutdown(async () => inspector.stop());
}
