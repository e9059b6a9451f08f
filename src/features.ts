import type { Feature } from './daemon/context.js';
import { installDashboard } from './dashboard/index.js';
import { installMetrics } from './metrics/index.js';
import { installOps } from './ops/index.js';
import { installNotify } from './notify/notify.js';
import { installSignIn } from './signin/signin.js';

/**
 * The features `mailtokend serve` installs on top of the core daemon, in
 * order. Each lives in its own folder and only registers admin commands, web
 * routes and event listeners through the DaemonContext.
 */
export const FEATURES: Feature[] = [installSignIn, installNotify, installOps, installMetrics, installDashboard];
