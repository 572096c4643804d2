// One POST of one alert, with node:http(s) rather than fetch: it gives a connect timeout
// apart from the response timeout, a custom CA bundle per sink, and the error's own code
// (ECONNREFUSED, ENOTFOUND, a certificate error) where fetch says only `fetch failed`.
//
// Connections are kept alive (HttpTransport: one agent per destination URL, as many
// sockets as the sink has requests in flight for it): a TCP (and TLS) handshake per alert
// capped delivery at about 1,000-1,300 alerts/s on loopback (docs/performance.md, section 9).
// The keep-alive race: a receiver may close an idle connection just as a request goes out
// on it, which fails with ECONNRESET or EPIPE before any answer. That is not the
// receiver's verdict on the alert, so the request is sent again at once on a new
// connection, neither counted as a failure nor backed off (the receiver de-duplicates by
// Idempotency-Key in the rare case it had read the first one).

import http from 'node:http';
import https from 'node:https';

export interface PostOptions {
  headers: Record<string, string>;
  /** PEM bundle trusted instead of the system's roots (https only). */
  ca?: string | Buffer;
  connectTimeoutMs: number;
  responseTimeoutMs: number;
  signal: AbortSignal;
  /** Keep-alive connections to reuse (HttpTransport); without one, a fresh connection. */
  agent?: http.Agent;
}

export interface PostResult {
  status: number;
  /** The Retry-After header as sent, if any. */
  retryAfter?: string;
}

/** An idle socket is closed after this long: under the 5 s keep-alive of Node's own server and most others, so Kive closes first. */
const IDLE_SOCKET_MS = 4_000;

/** Keep-alive agents, one per destination URL; close() destroys their sockets. */
export class HttpTransport {
  readonly #agents = new Map<string, http.Agent>();
  readonly #maxSockets: number;

  /** `maxSockets`: the requests a sink has in flight per destination, so none waits for a socket. */
  constructor(maxSockets: number) {
    this.#maxSockets = maxSockets;
  }

  readonly post = (url: URL, body: string, o: PostOptions): Promise<PostResult> => postOnce(url, body, { ...o, agent: this.#agent(url) });

  #agent(url: URL): http.Agent {
    let agent = this.#agents.get(url.href);
    if (agent === undefined) {
      const options = { keepAlive: true, maxSockets: this.#maxSockets, maxFreeSockets: this.#maxSockets, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' } as const;
      agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
      this.#agents.set(url.href, agent);
    }
    return agent;
  }

  /** Destroys every socket, idle or in use (shutdown: idle sockets must not outlive the sink). */
  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}

/** Errors of a request that went out on a kept-alive socket the receiver had closed. */
const staleSocket = new WeakSet<object>();
const STALE_CODES = new Set(['ECONNRESET', 'EPIPE']);

/**
 * Resolves with the status once the answer's headers are in; rejects with a coded Error.
 * A request lost to the keep-alive race goes again once, on a fresh connection outside
 * the pool (the pool's other idle sockets may be as stale), whose error is final.
 */
export async function postOnce(url: URL, body: string, o: PostOptions): Promise<PostResult> {
  try {
    return await request(url, body, o);
  } catch (err) {
    if (!staleSocket.has(err as object) || o.signal.aborted) throw err;
    const { agent: _pooled, ...fresh } = o;
    return request(url, body, fresh);
  }
}

function request(url: URL, body: string, o: PostOptions): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, {
      method: 'POST',
      headers: { ...o.headers, 'content-length': String(Buffer.byteLength(body)) },
      agent: o.agent ?? false,
      ...(o.ca !== undefined && url.protocol === 'https:' ? { ca: o.ca } : {}),
      signal: o.signal,
    });
    const fail = (code: string, message: string) => {
      req.destroy(Object.assign(new Error(message), { code }));
    };
    // From the request, not the socket: it covers the DNS lookup and a wait for a free socket.
    const connect = setTimeout(() => fail('ECONNECTTIMEOUT', `no connection within ${o.connectTimeoutMs} ms`), o.connectTimeoutMs);
    let response: NodeJS.Timeout | undefined;
    let answered = false;
    req.on('socket', (socket) => {
      const connected = () => {
        clearTimeout(connect);
        response = setTimeout(() => fail('ERESPONSETIMEOUT', `no answer within ${o.responseTimeoutMs} ms`), o.responseTimeoutMs);
      };
      // A kept-alive socket is connected already: it sends no second 'connect'.
      if (req.reusedSocket) connected();
      else socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', connected);
    });
    req.on('response', (res) => {
      answered = true;
      clearTimeout(connect);
      clearTimeout(response);
      res.resume(); // the body is not needed; let the socket go back to the agent
      const retryAfter = res.headers['retry-after'];
      resolve({ status: res.statusCode ?? 0, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connect);
      clearTimeout(response);
      if (req.reusedSocket && !answered && STALE_CODES.has(err.code ?? '')) staleSocket.add(err);
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
