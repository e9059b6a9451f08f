/** Configuration: load a TOML file into a resolved, validated Config. */
export * from './types.js';
export * from './errors.js';
export { loadConfig, parseConfig } from './load.js';
export { defaultConfigPath, defaultStateDir, defaultSocketPath, defaultAdminSocket, expandPath, type Env } from './paths.js';
export { normalizeUser, matchesAccountPattern, socketServes, isAddress } from './patterns.js';
export { parseDuration, formatDuration } from './duration.js';
export { GOOGLE_DEFAULTS, MICROSOFT_DEFAULTS, DEFAULT_MAX_CONCURRENT_REFRESHES } from './providers.js';
export { DEFAULT_SOCKET_MODE, DEFAULT_SOCKET_PROTOCOLS } from './sockets.js';
export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_REFRESH_AHEAD_MS,
  DEFAULT_WEB_LISTEN,
  MAX_WORKERS,
} from './resolve.js';
export { MAX_REQUEST_TIMEOUT_MS } from './schema.js';
