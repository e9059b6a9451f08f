#!/usr/bin/env node
/**
 * `node dist/src/cli/cms-oauth.js`, as older instructions and scripts call
 * the client. The client itself is CommonJS (cms-oauth.cts, built to
 * cms-oauth.cjs, the package's `bin`), because this ES module path costs
 * start-up time that msmtp and mutt pay on every connection; this file only
 * forwards to it (and is only ever run, never imported).
 */
import { runCli } from './cms-oauth.cjs';

runCli();
