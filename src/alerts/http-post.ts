// One POST of one alert, with node:http(s) rather than fetch: it gives a connect timeout
// apart from the response timeout, a custom CA bundle per sink, and the error's own code
// (ECONNREFUSED, ENOTFOUND, a certificate error) where fetch says only `fetch failed`.

import http from 'node:http';
import https from 'node:https';

export interface PostOptions {
  headers: Record<string, string>;
  /** PEM bundle trusted instead of the system's roots (https only). */
  ca?: string | Buffer;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  signal: AbortSignal;
}

export interface PostResult {
  status: number;
  /** The Retry-After header as sent, if any. */
  retryAfter?: string;
}

/** Resolves with the status once the answer's headers are in; rejects with a coded Error. */
export function postOnce(url: URL, body: string, o: PostOptions): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, {
      method: 'POST',
      headers: { ...o.headers, 'content-length': String(Buffer.byteLength(body)) },
      // A fresh connection per POST: the connect timer below relies on a 'connect' event.
      agent: false,
      ...(o.ca !== undefined && url.protocol === 'https:' ? { ca: o.ca } : {}),
      signal: o.signal,
    });
    const fail = (code: string, message: string) => {
      req.destroy(Object.assign(new Error(message), { code }));
    };
    const connect = setTimeout(() => fail('ECONNECTTIMEOUT', `no connection within ${o.connectTimeoutMs} ms`), o.connectTimeoutMs);
    let response: NodeJS.Timeout | undefined;
    req.on('socket', (socket) => {
      const connected = () => {
        clearTimeout(connect);
        response = setTimeout(() => fail('ERESPONSETIMEOUT', `no answer within ${o.responseTimeoutMs} ms`), o.responseTimeoutMs);
      };
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
    });
    req.on('response', (res) => {
      clearTimeout(connect);
      clearTimeout(response);
      res.resume(); // the body is not needed; let the socket go
      const retryAfter = res.headers['retry-after'];
      resolve({ status: res.statusCode ?? 0, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) });
    });
    req.on('error', (err) => {
      clearTimeout(connect);
      clearTimeout(response);
      reject(err);
    });
    req.end(body);
  });
}

const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_NOT_YET_VALID',
]);

/** A log-ready cause: the code first, then what it means. */
export function describeError(err: unknown): { code: string; cause: string } {
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? e?.name ?? 'ERROR';
  if (CERT_CODES.has(code)) {
    return { code, cause: `TLS certificate not trusted (${code}: ${e.message}); give the receiver's CA with --callback-ca-file` };
  }
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused (nothing listens on that port)',
    ENOTFOUND: 'unknown host (DNS lookup failed)',
    EAI_AGAIN: 'DNS lookup failed temporarily',
    ECONNRESET: 'connection reset by the receiver',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
  };
  return { code, cause: known[code] ?? e?.message ?? String(err) };
}

/** Retry-After in ms (delta-seconds or an HTTP date), or undefined if absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
