// A real Kubernetes control plane (etcd + kube-apiserver) for one integration test file.
//
// Each call starts a fresh, isolated pair on random free loopback ports with its own
// temporary data directory, certificates and admin kubeconfig, through
// test/cluster/control-plane.sh (the same script `make cluster` uses, so the flags live
// in one place). It is torn down by stop(), by an after() hook registered here, by a
// process 'exit' handler, and - if this process is killed outright - by a watchdog
// that the script leaves behind. The binaries come from `make cluster-bins`; when they
// are missing this FAILS, it never skips.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';

const clusterDir = resolve(fileURLToPath(new URL('../cluster/', import.meta.url)));
const script = join(clusterDir, 'control-plane.sh');

export interface ControlPlane {
  /** Admin (system:masters) credentials for the new API server. */
  kubeConfig: KubeConfig;
  /** The same kubeconfig as a file, for kubectl or a child process. */
  kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** Where etcd, kube-apiserver and kubectl were taken from. */
  binDir: string;
  /** Milliseconds from the call to /readyz answering ok. */
  startupMs: number;
  /** Stops etcd and kube-apiserver and deletes their data. Safe to call twice. */
  stop(): Promise<void>;
}

/** The directory holding the control plane's binaries: $KIVE_K8S_BIN_DIR or the build cache. */
export function k8sBinDir(): string {
  const fromEnv = process.env['KIVE_K8S_BIN_DIR'];
  if (fromEnv) return fromEnv;
  return execFileSync(join(clusterDir, 'build-bins.sh'), ['--print-dir'], { encoding: 'utf8' }).trim();
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    execFile('bash', [script, ...args], { env, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const detail = stderr.trim() || stdout.trim() || String(err);
        fail(new Error(`control-plane.sh ${args[0]} failed (exit ${String(err.code)}):\n${detail}`));
      } else {
        ok({ stdout, stderr });
      }
    });
  });
}

/** Distinct free TCP ports on 127.0.0.1, all held open until every one is known. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = createServer();
      servers.push(srv);
      await new Promise<void>((ok, fail) => {
        srv.once('error', fail);
        srv.listen(0, '127.0.0.1', () => ok());
      });
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') throw new Error('no port from listen(0)');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((ok) => s.close(() => ok()))));
  }
}

/** Kills both process groups at once, synchronously: for the 'exit' handler. */
function killNow(dir: string): void {
  for (const name of ['kube-apiserver', 'etcd']) {
    const pidFile = join(dir, `${name}.pid`);
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

export interface StartOptions {
  /**
   * Register an after() hook of node:test that stops the control plane (default true).
   * Call startControlPlane() at the top level of the test file (top-level await) for
   * that: node:test attaches the hook to whatever runs at the time, so from inside a
   * before() hook it would run as soon as that hook ends. Inside a hook, pass false and
   * call stop() from your own after().
   */
  registerAfter?: boolean;
  /** Seconds to wait for /readyz (default 90). */
  timeoutSeconds?: number;
}

export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const t0 = performance.now();
  const binDir = k8sBinDir();
  for (const bin of ['etcd', 'kube-apiserver']) {
    if (!existsSync(join(binDir, bin))) {
      throw new Error(
        `startControlPlane: ${join(binDir, bin)} is missing; build the test control plane with 'make cluster-bins' ` +
          '(or point KIVE_K8S_BIN_DIR at a directory holding etcd and kube-apiserver)',
      );
    }
  }

  const dir = await mkdtemp(join(tmpdir(), 'kive-cp-'));
  const onExit = (): void => killNow(dir);
  process.once('exit', onExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      try {
        await run(['stop', dir], { ...process.env, KIVE_CLUSTER_STOP_GRACE: '3' });
      } finally {
        killNow(dir);
        process.removeListener('exit', onExit);
      }
    })();
    return stopped;
  };
  if (options.registerAfter ?? true) after(stop);

  // A port can be taken between freePorts() and the servers binding it: try again then.
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [api, etcd, peer] = await freePorts(3);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KIVE_K8S_BIN_DIR: binDir,
      KIVE_CLUSTER_API_PORT: String(api),
      KIVE_CLUSTER_ETCD_PORT: String(etcd),
      KIVE_CLUSTER_ETCD_PEER_PORT: String(peer),
      KIVE_CLUSTER_OWNER_PID: String(process.pid),
      KIVE_CLUSTER_NAME: 'test control plane',
      KIVE_CLUSTER_TIMEOUT: String(options.timeoutSeconds ?? 90),
    };
    try {
      await run(['start', dir], env);
      const kubeconfigPath = join(dir, 'kubeconfig');
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(kubeconfigPath);
      return {
        kubeConfig,
        kubeconfigPath,
        server: `https://127.0.0.1:${api}`,
        binDir,
        startupMs: Math.round(performance.now() - t0),
        stop,
      };
    } catch (err) {
      lastError = err;
      if (!/already in use|address already in use|bind: address/i.test(String(err))) break;
    }
  }
  await stop();
  throw lastError;
}
