import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { deadlineSignal } from './deadline.js';
import { PROVIDER_TIMEOUT_MS } from './types.js';

/** The last HTTP answer seen, so errors can be classified by status and Retry-After. */
export interface ResponseTrace {
  status?: number;
  retryAfter?: string;
}

/**
 * msal-node's network client, replaced so that a refresh can be cancelled
 * (the account left `refreshing`), is bounded in time, and so the status and
 * Retry-After of a failed answer reach our backoff (msal keeps them to itself).
 */
export function tracedNetworkClient(signal: AbortSignal, trace: ResponseTrace): INetworkModule {
  async function send<T>(method: 'GET' | 'POST', url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const deadline = deadlineSignal(signal, PROVIDER_TIMEOUT_MS);
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers: options?.headers,
        body: method === 'POST' ? options?.body : undefined,
        signal: deadline.signal,
      });
      text = await response.text();
    } finally {
      deadline.done();
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => {
      headers[key.toLowerCase()] = value;
    });
    trace.status = response.status;
    trace.retryAfter = headers['retry-after'];
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : {};
    } catch {
      // A proxy's HTML error page: msal needs an object, the status says the rest.
      body = { error: `http_${response.status}`, error_description: `non-JSON answer (HTTP ${response.status})` };
    }
    return { headers, body: body as T, status: response.status };
  }
  return {
    sendGetRequestAsync: (url, options) => send('GET', url, options),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}
