/**
 * A stand-in for a desktop browser, for `$BROWSER` in tests:
 * `node signin-browser.js URL` follows the redirects as a browser would and
 * appends where it ended (status and URL, never the page) to the file named
 * by SIGNIN_BROWSER_LOG.
 */
import { appendFileSync } from 'node:fs';
import { browse, isPage } from './signin.js';

const url = process.argv[2];
const log = process.env.SIGNIN_BROWSER_LOG;
if (!url || !log) {
  process.stderr.write('usage: SIGNIN_BROWSER_LOG=FILE signin-browser.js URL\n');
  process.exit(2);
}
const result = await browse(url);
appendFileSync(log, `${JSON.stringify(isPage(result) ? { status: result.status, url: result.url, text: result.text } : { failedUrl: result.failedUrl })}\n`);
