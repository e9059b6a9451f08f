import { stableFraction } from '../../actors/timing.js';

/**
 * The shard (worker index) an account lives on. It depends only on the
 * normalized address and the worker count, so every thread, every restart
 * and every instance agree on it.
 */
export function shardOf(key: string, workers: number): number {
  return Math.floor(stableFraction(key) * workers);
}
