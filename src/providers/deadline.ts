/**
 * An AbortSignal that fires when `parent` does or after `ms`, whichever is
 * first; call `done()` once the work is over. The deadline is a plain timer,
 * not AbortSignal.timeout(): a timeout signal that only a composite
 * AbortSignal.any() refers to can be garbage-collected on Node 20 and never
 * fire, which left a refresh hung at the provider in `refreshing` for good
 * (found by `npm run reliability`, provider faults, "timeout").
 */
export function deadlineSignal(parent: AbortSignal, ms: number, reason = 'provider did not answer in time'): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new Error(reason)), ms);
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}
