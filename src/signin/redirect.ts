import type { Config, ProviderConfig } from '../config/types.js';
import type { WebServer } from '../web/server.js';

/**
 * Where browsers are sent back to, and where people open sign-in pages. The
 * listen address may be a wildcard (a container) or differ from what the
 * browser reaches (an SSH tunnel, a port mapping), so a configured
 * `redirect_uri` always wins, and a wildcard becomes the loopback address.
 */

/** The base URL of the web listener as a browser on this machine reaches it. */
export function webBase(config: Config, web: WebServer | undefined): string {
  const host = web?.address.host ?? config.web.listen.host;
  const port = web?.address.port ?? config.web.listen.port;
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

/** The provider's `redirect_uri`, else `<web base>/oauth2/<provider section>`. */
export function redirectUriOf(provider: ProviderConfig, config: Config, web: WebServer | undefined): string {
  return provider.redirectUri ?? `${webBase(config, web)}/oauth2/${encodeURIComponent(provider.name)}`;
}

/** The paths callbacks may arrive on: every provider's redirect path. */
export function callbackPaths(config: Config, web: WebServer | undefined): Set<string> {
  return new Set(Object.values(config.providers).map((p) => new URL(redirectUriOf(p, config, web)).pathname));
}

/** Host names a browser may use to reach the listener besides loopback: those of configured redirect URIs. */
export function redirectHosts(config: Config): string[] {
  return Object.values(config.providers)
    .map((p) => p.redirectUri)
    .filter((uri): uri is string => typeof uri === 'string')
    .map((uri) => new URL(uri).hostname);
}

/** The sign-in page for one account on the listener. */
export function signInPageUrl(config: Config, web: WebServer | undefined, user: string): string {
  return `${webBase(config, web)}/auth/${encodeURIComponent(user)}`;
}

/** A path as a regular expression matching only itself. */
export function exactPath(paths: Iterable<string>): RegExp {
  const escaped = [...paths].map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  return escaped.length === 0 ? /^(?!)$/ : new RegExp(`^(?:${escaped.join('|')})$`);
}
