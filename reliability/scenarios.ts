/**
 * The suite, in the order it runs. The secrets scenario stays last: it
 * searches everything the scenarios before it collected (evidence.ts).
 */
import { flood } from './flood.js';
import { hostile } from './hostile.js';
import { secrets } from './secrets.js';
import { silent } from './silent.js';
import type { Scenario } from './types.js';
import { crash } from './crash.js';
import { workerCrash } from './worker-crash.js';
import { providerFaults } from './provider-faults.js';
import { storageFaults } from './storage-faults.js';

export const scenarios: Scenario[] = [
  hostile,
  silent,
  flood,
  crash,
  workerCrash,
  providerFaults,
  storageFaults,
  secrets,
];
