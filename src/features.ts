import type { Feature } from './daemon/context.js';

/**
 * The features `mailtokend serve` installs on top of the core daemon, in
 * order. Each lives in its own folder and only registers admin commands, web
 * routes and event listeners through the DaemonContext.
 */
export const FEATURES: Feature[] = [];
