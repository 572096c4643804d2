// The HTTP endpoint of docs/metrics.md: /metrics (Prometheus text format), /healthz (the
// process answers) and /readyz (every readiness check passes; the body names those that
// do not). Plain node:http: three read-only routes need no framework.

import { createServer, type Server } from 'node:http';
import { KiveError } from '../errors.ts';
import type { KiveMetrics } from './metrics.ts';

/** Named readiness conditions; /readyz is 200 only when all of them hold. */
export class Readiness {
  readonly #checks = new Map<string, boolean>();

  /** Declares a check (not ready until set) or updates it. */
  set(name: string, ready: boolean): void {
    this.#checks.set(name, ready);
  }

  remove(name: string): void {
    this.#checks.delete(name);
  }

  /** Names of the checks that do not hold; empty when ready. */
  failing(): string[] {
    return [...this.#checks].filter(([, ok]) => !ok).map(([n]) => n);
  }
}

/** Parses `HOST:PORT`, `:PORT` (all interfaces) or `[V6]:PORT`. */
export function parseListenAddress(flag: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new KiveError('KIVE_USAGE', `--${flag} must be HOST:PORT, :PORT or [IPv6]:PORT, got "${value}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export interface MetricsServer {
  /** The bound address (port 0 resolved). */
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startMetricsServer(listen: { host: string; port: number }, metrics: KiveMetrics, readiness: Readiness): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const failing = readiness.failing();
      res.writeHead(failing.length ? 503 : 200, { 'content-type': 'text/plain' }).end(failing.length ? `not ready: ${failing.join(', ')}\n` : 'ok\n');
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${(err as Error).message}\n`),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new KiveError('KIVE_USAGE', `metrics endpoint: cannot listen on ${listen.host}:${listen.port}: ${err.code ?? err.message}`, { cause: err })),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  // Scrapes are short; an idle keep-alive connection must not hold up shutdown.
  server.keepAliveTimeout = 1_000;
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : listen.port;
  return {
    address: { host: listen.host, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
