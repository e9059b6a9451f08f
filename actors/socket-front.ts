import { assign, fromPromise, setup } from 'xstate';

/**
 * The socket front's lifecycle: bind every configured socket, serve, and on
 * shutdown stop accepting and drain requests in flight. Binding and draining
 * are actors the runtime provides; a reload swaps the socket set while
 * serving (`APPLY`), so open connections are never dropped.
 */
export interface SocketFrontContext {
  error?: { code: string; message: string };
}

export type SocketFrontEvent = { type: 'SHUTDOWN' } | { type: 'APPLY' };

function describe(error: unknown): { code: string; message: string } {
  if (typeof error === 'object' && error !== null) {
    const e = error as { code?: unknown; message?: unknown };
    return { code: typeof e.code === 'string' ? e.code : 'socket-error', message: typeof e.message === 'string' ? e.message : String(error) };
  }
  return { code: 'socket-error', message: String(error) };
}

export const socketFrontMachine = setup({
  types: { context: {} as SocketFrontContext, events: {} as SocketFrontEvent },
  actors: {
    bind: fromPromise<void>(async () => undefined),
    apply: fromPromise<void>(async () => undefined),
    drain: fromPromise<void>(async () => undefined),
  },
  actions: {
    recordError: assign({ error: ({ event }) => describe((event as { error?: unknown }).error) }),
  },
}).createMachine({
  id: 'socketFront',
  context: {},
  initial: 'binding',
  states: {
    binding: {
      invoke: {
        src: 'bind',
        onDone: 'serving',
        onError: { target: 'failed', actions: 'recordError' },
      },
    },
    serving: {
      initial: 'steady',
      states: {
        steady: { on: { APPLY: 'applying' } },
        applying: {
          invoke: {
            src: 'apply',
            onDone: 'steady',
            onError: { target: 'steady', actions: 'recordError' },
          },
        },
      },
      on: { SHUTDOWN: 'draining' },
    },
    draining: {
      invoke: { src: 'drain', onDone: 'closed', onError: 'closed' },
    },
    closed: { type: 'final' },
    failed: { type: 'final' },
  },
});
