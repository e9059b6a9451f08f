import { MailtokendError } from '../errors.js';
import type { AdminHandler, AdminRequest, AdminResponse } from './protocol.js';

/** Admin commands by name; each feature registers its own. */
export class AdminRegistry {
  readonly #handlers = new Map<string, AdminHandler>();

  register(cmd: string, handler: AdminHandler): void {
    if (this.#handlers.has(cmd)) throw new Error(`admin command ${cmd} registered twice`);
    this.#handlers.set(cmd, handler);
  }

  async dispatch(request: AdminRequest): Promise<AdminResponse> {
    const handler = this.#handlers.get(request.cmd);
    if (!handler) throw new MailtokendError('admin-unknown-command', `unknown admin command ${JSON.stringify(request.cmd)}`);
    return { ok: true, ...(await handler(request)) };
  }
}

/** Reads a required string field of an admin request. */
export function stringField(request: AdminRequest, field: string): string {
  const value = request[field];
  if (typeof value !== 'string' || value === '') {
    throw new MailtokendError('admin-bad-request', `"${request.cmd}" needs a string "${field}"`);
  }
  return value;
}
