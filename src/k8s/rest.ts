// A thin JSON client for the Kubernetes API, built on client-node's own transport:
// client-node's RequestContext, KubeConfig.applySecurityAuthentication (credentials, CA,
// client certificates, its pooled TLS dispatcher) and IsomorphicFetchHttpLibrary (its
// undici fetch). What it deliberately skips is client-node's model (de)serializer:
// typed list/read results turn timestamps into Date objects and drop unknown fields,
// while watch events arrive as plain JSON. Going through this client, lists, reads,
// patches and watch events all produce the same plain JSON objects, so the informer's
// cache never mixes the two shapes and `a.metadata.creationTimestamp === b...` works.
//
// Connections: client-node's applySecurityAuthentication makes a new undici Agent for
// every request, so each request opened a new TLS connection (a full handshake with the
// client certificate) and left it idle behind; at 5,000 KiveData writes that was much
// of the operator's and the API server's CPU (bench/scale.ts). This client keeps the
// first Agent it is given and sends every request through it (keep-alive, reused
// connections). The TLS material is the KubeConfig's, fixed when it was loaded; a new
// certificate means a new KubeConfig and so a new client. No close() is needed: idle
// connections time out on their own.

import {
  IsomorphicFetchHttpLibrary,
  RequestContext,
  type HttpMethod,
  type KubeConfig,
} from '@kubernetes/client-node';
import { KiveError } from '../errors.ts';

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the server URL, e.g. `/api/v1/namespaces/default/pods`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Serialized as JSON (JSON is also valid YAML for apply patches). */
  body?: unknown;
  /** Defaults to application/json when there is a body. */
  contentType?: string;
  /** Aborts the request, e.g. when a lease renewal deadline passes. */
  signal?: AbortSignal;
}

/**
 * A failed API call. `status` is the HTTP status (0 when no response arrived: the
 * connection failed or the request was aborted); `reason` the API's Status reason
 * (NotFound, Conflict, AlreadyExists, Expired, ...).
 */
export class ApiError extends KiveError {
  readonly status: number;
  readonly reason: string;
  /** The API's Status object when the server sent one. */
  readonly body: unknown;

  constructor(what: string, status: number, reason: string, detail: string, body?: unknown, cause?: unknown) {
    super('KIVE_K8S_API', `${what}: ${status === 0 ? 'no response' : `${status} ${reason}`}: ${detail}`, { cause });
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

/** True when err is an ApiError with the given HTTP status. */
export function isStatus(err: unknown, status: number): err is ApiError {
  return err instanceof ApiError && err.status === status;
}
export const isNotFound = (err: unknown): err is ApiError => isStatus(err, 404);
export const isConflict = (err: unknown): err is ApiError => isStatus(err, 409);
export const isGone = (err: unknown): err is ApiError => isStatus(err, 410);

/**
 * What most of the layer needs from a client: one JSON request. Tests substitute an
 * in-memory fake or a wrapper that fails on demand.
 */
export interface Requester {
  request<T = unknown>(req: RequestOptions): Promise<T>;
}

/** Raw JSON access to one cluster, as the KubeConfig's current context and user. */
export class KubeClient implements Requester {
  readonly kubeConfig: KubeConfig;
  readonly #http = new IsomorphicFetchHttpLibrary();
  #dispatcher: ReturnType<RequestContext['getDispatcher']>;

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = kubeConfig;
  }

  /**
   * Sends one request and returns the parsed JSON body (undefined for an empty body).
   * Throws ApiError for a non-2xx answer or when no answer arrived.
   */
  async request<T = unknown>(req: RequestOptions): Promise<T> {
    const what = `${req.method} ${req.path}`;
    const cluster = this.kubeConfig.getCurrentCluster();
    if (cluster === null) throw new ApiError(what, 0, 'NoCluster', 'the kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));

    const ctx = new RequestContext(url.toString(), req.method as HttpMethod);
    await this.kubeConfig.applySecurityAuthentication(ctx);
    const fresh = ctx.getDispatcher();
    if (fresh !== undefined) ctx.setDispatcher((this.#dispatcher ??= fresh));
    ctx.setHeaderParam('Accept', 'application/json');
    if (req.body !== undefined) {
      ctx.setHeaderParam('Content-Type', req.contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(req.body));
    }
    if (req.signal !== undefined) ctx.setSignal(req.signal);

    let status: number;
    let text: string;
    try {
      const res = await this.#http.send(ctx).toPromise();
      status = res.httpStatusCode;
      text = await res.body.text();
    } catch (err) {
      throw new ApiError(what, 0, 'RequestFailed', errorText(err), undefined, err);
    }
    const parsed = parseJson(text);
    if (status >= 200 && status < 300) return parsed as T;
    const st = (parsed ?? {}) as { reason?: string; message?: string };
    throw new ApiError(what, status, st.reason ?? 'Unknown', st.message ?? text.slice(0, 200), parsed);
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The innermost useful message of an error chain (fetch wraps the socket error). */
export function errorText(err: unknown): string {
  let e: unknown = err;
  let msg = String(err);
  for (let i = 0; i < 4 && e instanceof Error; i++) {
    msg = e.message || msg;
    e = e.cause;
  }
  return msg;
}
