/**
 * Request/reply plumbing shared by the provider modules. Handlers are plain
 * functions from a parsed request to a Reply, so the server can apply faults,
 * counters and logging around every one of them the same way.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface Req {
  method: string;
  /** Path without query. */
  path: string;
  query: URLSearchParams;
  /** Form (or JSON object) body as parameters; empty for GET. */
  form: URLSearchParams;
  /** Parsed JSON body, for the admin API. */
  json: unknown;
  headers: IncomingMessage['headers'];
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Object bodies are sent as JSON, strings as they are. */
  body?: unknown;
  /** Extra words for the request log (never secrets). */
  note?: string;
}

const MAX_BODY = 256 * 1024;

export class BodyTooLarge extends Error {}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY) throw new BodyTooLarge('request body too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a body the way the providers accept it: form-encoded, or JSON (Google accepts both). */
export function parseBody(raw: string, contentType: string | undefined): { form: URLSearchParams; json: unknown } {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') {
    let json: unknown;
    try {
      json = raw ? JSON.parse(raw) : undefined;
    } catch {
      return { form: new URLSearchParams(), json: undefined };
    }
    const form = new URLSearchParams();
    if (json && typeof json === 'object' && !Array.isArray(json)) {
      for (const [k, v] of Object.entries(json)) {
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') form.set(k, String(v));
      }
    }
    return { form, json };
  }
  return { form: new URLSearchParams(raw), json: undefined };
}

/** client_secret_basic credentials (RFC 6749 2.3.1: each part form-urlencoded). */
export function basicAuth(req: Req): { id: string; secret: string } | undefined {
  const h = req.headers.authorization;
  if (!h || !/^basic /i.test(h)) return undefined;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  const dec = (s: string): string => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { id: dec(decoded.slice(0, i)), secret: dec(decoded.slice(i + 1)) };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, body, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } };
}

export function html(status: number, page: string): Reply {
  return { status, body: page, headers: { 'content-type': 'text/html; charset=utf-8' } };
}

/** 302 to `base` with `params` added to its query, as both providers answer the authorize endpoint. */
export function redirect(base: string, params: Record<string, string | undefined>): Reply {
  const u = new URL(base);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return { status: 302, headers: { location: u.toString(), 'cache-control': 'no-store' } };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function send(res: ServerResponse, reply: Reply): void {
  const headers = { ...(reply.headers ?? {}) };
  let payload = '';
  if (typeof reply.body === 'string') payload = reply.body;
  else if (reply.body !== undefined) {
    payload = JSON.stringify(reply.body);
    headers['content-type'] ??= 'application/json; charset=utf-8';
  }
  headers['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/** Space-separated scope string to a list without empties or duplicates. */
export function scopeList(s: string | null | undefined): string[] {
  return [...new Set((s ?? '').split(/\s+/).filter(Boolean))];
}

/** RFC 8252 loopback redirect: http to 127.0.0.1, [::1] or localhost. */
export function isLoopback(uri: string): boolean {
  try {
    const u = new URL(uri);
    return u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  } catch {
    return false;
  }
}

/**
 * Whether `uri` is allowed for a client: an exact registered URI, or a
 * loopback URI matching a registered one except for the port (both providers
 * let native apps pick the port at run time). A client with none registered
 * accepts any loopback URI.
 */
export function redirectAllowed(registered: string[], uri: string): boolean {
  if (registered.includes(uri)) return true;
  if (!isLoopback(uri)) return false;
  if (registered.length === 0) return true;
  const u = new URL(uri);
  return registered.some((r) => {
    if (!isLoopback(r)) return false;
    const v = new URL(r);
    return v.hostname === u.hostname && v.pathname === u.pathname;
  });
}

/** Constant-time comparison of a presented secret with the registered one. */
export function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
