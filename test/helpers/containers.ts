// Real containers for tests: a private containerd (its own root, state, socket and
// config under a temporary directory, so a system containerd is never touched) running
// runc containers whose root file system is built from busybox-static.
//
//   const cd = await startContainerd();           // t.after(() => cd.stop())
//   const c = await cd.runCtr();                  // `ctr run --rootfs`: no image needed
//   await cd.importImages();                      // tiny OCI images, then CRI pods work:
//   const p = await cd.runCri();                  // RunPodSandbox + Create/StartContainer
//
// stop() tears down everything this containerd started (tasks, sandboxes, shims, mounts,
// the directory) and is idempotent; a process 'exit' hook does the same, synchronously,
// if a test crashes before its after() hooks run. Needs root, containerd, runc and busybox-static.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CriClient } from '../../src/runtime/cri.ts';
import { criLifecycleDefinition } from './cri-lifecycle.ts';
import { killShims, removeCgroups, unmountUnder } from './container-teardown.ts';

const run = promisify(execFile);
const BUSYBOX = '/usr/bin/busybox';
export const TEST_IMAGE = 'kive.test/busybox:1';
export const PAUSE_IMAGE = 'kive.test/pause:1';

/** Why real-container tests cannot run here, or undefined if they can. */
export function containersUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const bin of ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/containerd-shim-runc-v2', BUSYBOX]) {
    if (!existsSync(bin)) return `${bin} is not installed`;
  }
  if (!['/usr/sbin/runc', '/usr/bin/runc'].some((p) => existsSync(p))) return 'runc is not installed';
  return undefined;
}

export interface TestContainer {
  /** Runtime id (bare, as CRI and cgroups name it). */
  id: string;
  /** Host pid of the container's init process. */
  pid: number;
  /** Host directory holding the root file system given to runc (ctr) or the overlay mount (CRI). */
  rootfs: string;
  /** Pod sandbox id, for CRI containers. */
  sandboxId?: string;
  /** Kill and delete the container. Idempotent. */
  stop(): Promise<void>;
}

/**
 * A busybox root file system with the fixtures the runtime tests use: a container
 * /etc/shadow, and symlinks that would reach the host's /etc/shadow if followed with
 * host semantics.
 */
export function buildRootfs(dir: string): void {
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'app', 'app/sub', 'run']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'bin/busybox'), readFileSync(BUSYBOX), { mode: 0o755 });
  for (const tool of ['sh', 'sleep', 'cat', 'ls', 'stat']) symlinkSync('busybox', join(dir, 'bin', tool));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(join(dir, 'etc/shadow'), 'root:container-not-host:1::::::\n', { mode: 0o640 });
  writeFileSync(join(dir, 'app/data.txt'), 'application data\n');
  symlinkSync('/etc/shadow', join(dir, 'secret.txt'));
  symlinkSync('../../../../../../etc/shadow', join(dir, 'app/sub/rel-secret.txt'));
  symlinkSync('/proc/1/root/etc/shadow', join(dir, 'magic.txt'));
}

export class Containerd {
  readonly dir: string;
  readonly socket: string;
  #proc: ChildProcess | undefined;
  #containers = new Set<TestContainer>();
  // Ids whose cgroups runc made (containers and sandboxes); removed if a crash left them.
  #cgroupIds = new Set<string>();
  #stopped = false;
  #onExit: () => void;
  #seq = 0;

  private constructor(dir: string) {
    this.dir = dir;
    this.socket = join(dir, 'containerd.sock');
    // Last resort if the test process dies without running its after() hooks: kill this
    // instance's containers, shims and containerd; remove cgroups, mounts, the directory.
    this.#onExit = () => {
      killShims(this.socket);
      this.#proc?.kill('SIGKILL');
      removeCgroups(this.#cgroupIds);
      unmountUnder(this.dir);
      rmSync(this.dir, { recursive: true, force: true });
    };
  }

  /** Start a private containerd and wait for its socket. The caller must stop() it. */
  static async start(): Promise<Containerd> {
    const dir = mkdtempSync(join(tmpdir(), 'kive-containerd-'));
    const cd = new Containerd(dir);
    process.on('exit', cd.#onExit);
    try {
      await cd.#spawn();
    } catch (err) {
      await cd.stop();
      throw err;
    }
    return cd;
  }

  async #spawn(): Promise<void> {
    const d = this.dir;
    // stream_server_port 0: no fixed port clash with other containerds; opt/CNI paths
    // inside our directory so nothing is installed on the host. No CNI: CRI pods use the
    // host network.
    writeFileSync(join(d, 'config.toml'), `version = 2
root = "${d}/root"
state = "${d}/state"
oom_score = 0
[grpc]
  address = "${this.socket}"
[ttrpc]
  address = "${this.socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # CRI gives the pause container oom_score_adj -998, which needs CAP_SYS_RESOURCE; test
  # machines may lack it (runc then dies with "can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${d}/cni/bin"
    conf_dir = "${d}/cni/conf"
`);
    const log = join(d, 'containerd.log');
    const fd = openSync(log, 'a');
    try {
      this.#proc = spawn('/usr/bin/containerd', ['--config', join(d, 'config.toml')], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd); // the child has its own copy
    }
    const exited = new Promise<never>((_, reject) => this.#proc!.once('exit', (code) => reject(new Error(`containerd exited (${code}); log: ${tail(log)}`))));
    exited.catch(() => undefined);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (existsSync(this.socket)) {
        try {
          await Promise.race([this.ctr(['version']), exited]);
          return;
        } catch (err) {
          if (this.#proc.exitCode !== null) throw err;
        }
      }
      if (Date.now() > deadline) throw new Error(`containerd did not come up in 15 s; log: ${tail(log)}`);
      await Promise.race([sleep(100), exited]);
    }
  }

  /** Run ctr against this containerd (namespace `default` unless given). */
  async ctr(args: string[], namespace = 'default'): Promise<string> {
    const { stdout } = await run('/usr/bin/ctr', ['--address', this.socket, '--namespace', namespace, ...args], { timeout: 30_000 });
    return stdout;
  }

  /** A CRI client for this containerd. The caller closes it. */
  cri(timeoutMs = 10_000): Promise<CriClient> {
    return CriClient.connect({ socket: this.socket, timeoutMs, packageDefinition: criLifecycleDefinition() });
  }

  /** `ctr run -d --rootfs`: a container in containerd namespace `default`, unknown to CRI. */
  async runCtr(): Promise<TestContainer> {
    const id = `kive-test-${process.pid}-${++this.#seq}-${Date.now().toString(36)}`;
    const rootfs = join(this.dir, 'rootfs', id);
    buildRootfs(rootfs);
    this.#cgroupIds.add(id);
    await this.ctr(['run', '-d', '--env', 'PATH=/bin', '--rootfs', rootfs, id, '/bin/sh', '-c', 'sleep 100000']);
    let done = false;
    const c: TestContainer = {
      id, rootfs, pid: 0,
      stop: async () => {
        if (done) return;
        done = true;
        this.#containers.delete(c);
        // delete --force kills the task and waits for it before deleting.
        await this.ctr(['task', 'delete', '--force', id]).catch(() => undefined);
        await this.ctr(['container', 'delete', id]).catch(() => undefined);
      },
    };
    this.#containers.add(c);
    const line = (await this.ctr(['task', 'ls'])).split('\n').find((l) => l.split(/\s+/)[0] === id);
    c.pid = Number(line?.split(/\s+/)[1]);
    if (!(c.pid > 0)) throw new Error(`ctr task ls: no pid for ${id}: ${line}`);
    return c;
  }

  /** Build and import the busybox test image and the pause image into namespace k8s.io. */
  async importImages(): Promise<void> {
    const work = join(this.dir, 'images');
    const layerDir = join(work, 'layer');
    buildRootfs(layerDir);
    const layer = join(work, 'layer.tar');
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', layerDir, '-cf', layer, '.']);
    for (const [name, cmd] of [[TEST_IMAGE, ['/bin/sh']], [PAUSE_IMAGE, ['/bin/sleep', '2147483647']]] as const) {
      const tar = join(work, `${name.replace(/[/:]/g, '_')}.tar`);
      await writeOciArchive(join(work, name.replace(/[/:]/g, '_')), tar, name, layer, [...cmd]);
      await this.ctr(['images', 'import', tar], 'k8s.io');
    }
  }

  /** A CRI pod (host network, so no CNI) with one busybox container sleeping. */
  async runCri(): Promise<TestContainer> {
    const cri = await this.cri();
    const n = ++this.#seq;
    const sandboxConfig = {
      metadata: { name: `kive-test-pod-${n}`, uid: `kive-test-uid-${process.pid}-${n}`, namespace: 'default', attempt: 0 },
      logDirectory: join(this.dir, 'logs', String(n)),
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    mkdirSync(sandboxConfig.logDirectory, { recursive: true });
    let sandboxId = '';
    let id = '';
    let done = false;
    const c: TestContainer = {
      id, pid: 0, rootfs: '',
      stop: async () => {
        if (done) return;
        done = true;
        this.#containers.delete(c);
        const cli = await this.cri().catch(() => undefined);
        if (!cli) return;
        try {
          if (id) {
            await cli.call('StopContainer', { containerId: id, timeout: 0 }).catch(() => undefined);
            await cli.call('RemoveContainer', { containerId: id }).catch(() => undefined);
          }
          if (sandboxId) {
            await cli.call('StopPodSandbox', { podSandboxId: sandboxId }).catch(() => undefined);
            await cli.call('RemovePodSandbox', { podSandboxId: sandboxId }).catch(() => undefined);
          }
        } finally {
          cli.close();
        }
      },
    };
    this.#containers.add(c);
    try {
      sandboxId = ((await cri.call('RunPodSandbox', { config: sandboxConfig }, 60_000)) as { podSandboxId: string }).podSandboxId;
      c.sandboxId = sandboxId;
      this.#cgroupIds.add(sandboxId);
      id = ((await cri.call('CreateContainer', {
        podSandboxId: sandboxId,
        config: {
          metadata: { name: 'app', attempt: 0 },
          image: { image: TEST_IMAGE },
          command: ['/bin/sh', '-c', 'sleep 100000'],
          logPath: 'app.log',
          linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
        },
        sandboxConfig,
      }, 60_000)) as { containerId: string }).containerId;
      c.id = id;
      this.#cgroupIds.add(id);
      await cri.call('StartContainer', { containerId: id }, 60_000);
      c.pid = await cri.containerPid(id);
      c.rootfs = join(this.dir, 'state', 'io.containerd.runtime.v2.task', 'k8s.io', id, 'rootfs');
    } finally {
      cri.close();
    }
    return c;
  }

  /** Stop every container, containerd itself, leftover shims and mounts; remove the directory. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const c of [...this.#containers]) await c.stop().catch(() => undefined);
    const proc = this.#proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise<void>((r) => { timer = setTimeout(r, 10_000); })]);
      clearTimeout(timer); // or the pending timer keeps the test process alive
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    killShims(this.socket);
    removeCgroups(this.#cgroupIds);
    unmountUnder(this.dir);
    process.removeListener('exit', this.#onExit);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Start a private containerd; see Containerd. */
export function startContainerd(): Promise<Containerd> {
  return Containerd.start();
}

// --- OCI image archive (image-layout 1.0.0) from one uncompressed layer.
async function writeOciArchive(dir: string, tarPath: string, name: string, layerTar: string, cmd: string[]): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer): { digest: string; size: number } => {
    const hex = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const layer = put(readFileSync(layerTar));
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = put(Buffer.from(JSON.stringify({
    architecture: arch, os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: cmd, WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [layer.digest] }, // uncompressed: diff id = digest
  })));
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest,
      platform: { architecture: arch, os: 'linux' },
      annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').pop() },
    }],
  }));
  await run('tar', ['--numeric-owner', '-C', dir, '-cf', tarPath + '.tmp', '.']);
  renameSync(tarPath + '.tmp', tarPath);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-8).join(' | ');
  } catch {
    return '(no log)';
  }
}
