// A small CRI (runtime.v1) client over the runtime's unix socket: enough to map a
// container id to the pid of its init process. Works with containerd (1.6+) and CRI-O;
// both return the pid in the verbose ContainerStatus `info` map.
//
// Every call has a deadline: a wedged runtime must make a reconcile fail and retry, not
// hang the discover controller. Errors are KiveErrors: KIVE_CONTAINER_NOT_FOUND when the
// runtime says the container does not exist, KIVE_RUNTIME for everything else.

import { statSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { KiveError } from '../errors.ts';
import { CRI_PROTO } from './cri-proto.ts';

/**
 * Sockets tried in order when none is configured: containerd, k3s's embedded containerd,
 * then CRI-O. The Helm chart's `criSocket: auto` mounts the node's /run for this.
 */
export const DEFAULT_CRI_SOCKETS: readonly string[] = [
  '/run/containerd/containerd.sock',
  '/run/k3s/containerd/containerd.sock',
  '/var/run/crio/crio.sock',
  '/run/crio/crio.sock',
];
export const DEFAULT_CRI_TIMEOUT_MS = 5_000;

export interface CriVersion {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export type CriContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface CriContainerStatus {
  id: string;
  name: string;
  state: CriContainerState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CriContainer {
  id: string;
  podSandboxId: string;
  name: string;
  state: CriContainerState;
  labels: Record<string, string>;
}

export interface CriOptions {
  /** Socket path. Default: the first existing socket of `candidates`. */
  socket?: string;
  /** Candidate sockets for discovery. Default DEFAULT_CRI_SOCKETS. */
  candidates?: readonly string[];
  /** Deadline of each call, in ms. Default 5000. */
  timeoutMs?: number;
  /**
   * The runtime.v1 package to speak. Default criPackageDefinition(), the calls Kive
   * makes; the tests pass one extended with the sandbox and container lifecycle.
   */
  packageDefinition?: protoLoader.PackageDefinition;
}

/** The first path in `candidates` that is a unix socket, or undefined. */
export function discoverCriSocket(candidates: readonly string[] = DEFAULT_CRI_SOCKETS): string | undefined {
  for (const p of candidates) {
    try {
      if (statSync(p).isSocket()) return p;
    } catch {
      // missing or unreadable: try the next one
    }
  }
  return undefined;
}

/**
 * The pid of a container's task from the verbose ContainerStatus `info` map, or
 * undefined. containerd and CRI-O both put a JSON object with a numeric `pid` under the
 * key "info"; some older runtimes put a bare `pid` key. A pid of 0 means "not running".
 */
export function pidFromStatusInfo(info: Record<string, string> | undefined): number | undefined {
  if (info === undefined) return undefined;
  const raw = info['info'];
  if (raw !== undefined) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed !== null && typeof parsed === 'object') {
        const pid = (parsed as Record<string, unknown>)['pid'];
        if (typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0) return pid;
      }
    } catch {
      // not JSON: fall through to the bare key
    }
  }
  const bare = info['pid'];
  if (bare !== undefined && /^\d+$/.test(bare.trim())) {
    const pid = Number(bare.trim());
    if (Number.isSafeInteger(pid) && pid > 0) return pid;
  }
  return undefined;
}

let packageDefinition: protoLoader.PackageDefinition | undefined;

/** A new protobuf root holding Kive's part of runtime.v1 (camelCase field names). */
export function criRoot(): protobuf.Root {
  return protobuf.parse(CRI_PROTO, { keepCase: false }).root;
}

/**
 * The gRPC package definition of `root`: enums as their names, 64-bit ints as strings,
 * defaults filled, so messages are plain JSON-like objects. (parse already converted the
 * field names to camelCase; fromJSON takes them as given.)
 */
export function criDefinitionOf(root: protobuf.Root): protoLoader.PackageDefinition {
  return protoLoader.fromJSON(root.toJSON(), { enums: String, longs: String, defaults: true });
}

/** The runtime.v1 package definition of the calls Kive makes, parsed once. */
export function criPackageDefinition(): protoLoader.PackageDefinition {
  packageDefinition ??= criDefinitionOf(criRoot());
  return packageDefinition;
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type Method = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => grpc.ClientUnaryCall;

/**
 * A connected CRI client. Create with CriClient.connect(); the caller owns it and must
 * close() it (idempotent). Calls after close() throw KIVE_CLOSED.
 */
export class CriClient {
  readonly socket: string;
  readonly timeoutMs: number;
  #client: grpc.Client | undefined;

  private constructor(socket: string, timeoutMs: number, definition: protoLoader.PackageDefinition) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    const ns = grpc.loadPackageDefinition(definition) as unknown as {
      runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } };
    };
    this.#client = new ns.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure(), {
      // CRI responses with a verbose runtime spec can exceed gRPC's 4 MiB default.
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    });
  }

  /**
   * Find the socket (unless given), connect, and check it answers Version. Throws
   * KIVE_RUNTIME when no socket is found or the runtime does not answer in time.
   */
  static async connect(opts: CriOptions = {}): Promise<CriClient> {
    const socket = opts.socket ?? discoverCriSocket(opts.candidates);
    if (socket === undefined) {
      const tried = (opts.candidates ?? DEFAULT_CRI_SOCKETS).join(', ');
      throw new KiveError('KIVE_RUNTIME', `connect to the container runtime: no CRI socket found (tried ${tried}; mount the runtime socket or set it explicitly)`);
    }
    const client = new CriClient(socket, opts.timeoutMs ?? DEFAULT_CRI_TIMEOUT_MS, opts.packageDefinition ?? criPackageDefinition());
    try {
      await client.version();
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  /** Runtime name and versions (CRI Version). */
  async version(): Promise<CriVersion> {
    const r = (await this.call('Version', { version: 'v1' })) as CriVersion;
    return { version: r.version, runtimeName: r.runtimeName, runtimeVersion: r.runtimeVersion, runtimeApiVersion: r.runtimeApiVersion };
  }

  /** Verbose ContainerStatus: the status and the runtime's `info` map. */
  async containerStatus(id: string): Promise<{ status: CriContainerStatus; info: Record<string, string> }> {
    const r = (await this.call('ContainerStatus', { containerId: id, verbose: true })) as {
      status: { id: string; metadata?: { name: string } | null; state: CriContainerState; labels: Record<string, string>; annotations: Record<string, string> } | null;
      info: Record<string, string>;
    };
    if (r.status === null) {
      throw new KiveError('KIVE_CONTAINER_NOT_FOUND', `CRI ContainerStatus ${id} on ${this.socket}: empty status`);
    }
    const s = r.status;
    return {
      status: { id: s.id, name: s.metadata?.name ?? '', state: s.state, labels: s.labels, annotations: s.annotations },
      info: r.info,
    };
  }

  /**
   * The pid (in the runtime's pid namespace, i.e. the host's) of a running container's
   * init process. Throws KIVE_CONTAINER_NOT_FOUND if the runtime does not know the id,
   * KIVE_RUNTIME if it is not running or the runtime reports no pid.
   */
  async containerPid(id: string): Promise<number> {
    const { status, info } = await this.containerStatus(id);
    if (status.state !== 'CONTAINER_RUNNING') {
      throw new KiveError('KIVE_RUNTIME', `CRI ContainerStatus ${id}: container is ${status.state}, not running`);
    }
    const pid = pidFromStatusInfo(info);
    if (pid === undefined) {
      throw new KiveError('KIVE_RUNTIME', `CRI ContainerStatus ${id} on ${this.socket}: the runtime reported no pid in its verbose info (keys: ${Object.keys(info).join(', ') || 'none'})`);
    }
    return pid;
  }

  /** ListContainers, optionally filtered by id, sandbox or state. */
  async listContainers(filter: { id?: string; podSandboxId?: string; state?: CriContainerState } = {}): Promise<CriContainer[]> {
    const f: Record<string, unknown> = {};
    if (filter.id !== undefined) f['id'] = filter.id;
    if (filter.podSandboxId !== undefined) f['podSandboxId'] = filter.podSandboxId;
    if (filter.state !== undefined) f['state'] = { state: filter.state };
    const r = (await this.call('ListContainers', { filter: f })) as {
      containers: Array<{ id: string; podSandboxId: string; metadata?: { name: string } | null; state: CriContainerState; labels: Record<string, string> }>;
    };
    return r.containers.map((c) => ({ id: c.id, podSandboxId: c.podSandboxId, name: c.metadata?.name ?? '', state: c.state, labels: c.labels }));
  }

  /**
   * One unary call by method name with the client's deadline. The typed methods above
   * go through it; a method missing from the package definition is refused.
   */
  call(method: string, request: unknown, timeoutMs: number = this.timeoutMs): Promise<unknown> {
    const client = this.#client;
    if (client === undefined) {
      return Promise.reject(new KiveError('KIVE_CLOSED', `CRI ${method}: client for ${this.socket} is closed`));
    }
    const fn = (client as unknown as Record<string, Method | undefined>)[method];
    if (typeof fn !== 'function') {
      return Promise.reject(new KiveError('KIVE_RUNTIME', `CRI ${method}: not in this client's runtime.v1 package definition`));
    }
    return new Promise((resolve, reject) => {
      fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(this.#wrap(method, request, err, timeoutMs));
        else resolve(res);
      });
    });
  }

  /** Close the channel. Idempotent. */
  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  #wrap(method: string, request: unknown, err: grpc.ServiceError, timeoutMs: number): KiveError {
    const id = (request as { containerId?: string } | null)?.containerId;
    const what = `CRI ${method}${id ? ` ${id}` : ''} on ${this.socket}`;
    const detail = err.details || err.message;
    switch (err.code) {
      case grpc.status.NOT_FOUND:
        return new KiveError('KIVE_CONTAINER_NOT_FOUND', `${what}: not found: ${detail}`, { cause: err });
      case grpc.status.DEADLINE_EXCEEDED:
        return new KiveError('KIVE_RUNTIME', `${what}: no answer within ${timeoutMs} ms (is the runtime healthy?)`, { cause: err });
      case grpc.status.UNAVAILABLE:
        return new KiveError('KIVE_RUNTIME', `${what}: runtime unavailable: ${detail} (is the socket right and the runtime running?)`, { cause: err });
      case grpc.status.UNIMPLEMENTED:
        return new KiveError('KIVE_RUNTIME', `${what}: not implemented by the runtime (does it serve CRI runtime.v1?): ${detail}`, { cause: err });
      default:
        return new KiveError('KIVE_RUNTIME', `${what}: ${grpc.status[err.code] ?? err.code}: ${detail}`, { cause: err });
    }
  }
}
