// The operator image (`make image`) under a real containerd, run the way the chart's
// DaemonSet runs it: exactly the capabilities of scripts/deploy/values.ts (not
// privileged), the host PID namespace, the read-only root, containerd's default seccomp
// profile, tracefs mounted from the host. `kive probe` must find a backend and
// `kive run` with the image's own sample policy must alert on a read from the host:
// the eBPF program loads and attaches with those capabilities. Prints the image's size,
// cold start, RSS and stop time (docs/performance.md "The operator image").
// Needs root, containerd, runc, and the archive from `make image` (`make test-image`).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { CAPABILITIES, VERSION } from '../../scripts/deploy/values.ts';
import { containersUnavailable, startContainerd, type Containerd } from '../helpers/containers.ts';

const run = promisify(execFile);
const ARCHIVE = new URL(`../../build/image/kive-${VERSION}.oci.tar`, import.meta.url).pathname;
const IMAGE = `docker.io/library/kive:${VERSION}`;
const NS = 'kive-test';
const KIVE = ['/usr/local/bin/node', '/opt/kive/dist/src/cli/main.js'];
// Capability numbers (linux/capability.h) of the ones the chart adds.
const CAP_BITS: Record<string, number> = { DAC_OVERRIDE: 1, SYS_PTRACE: 19, PERFMON: 38, BPF: 39 };
// containerd's default set, dropped so only CAPABILITIES remain (ctr has no "drop ALL").
const CTR_DEFAULT_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'];

const skip = containersUnavailable();
/** ctr against the private containerd; unpacking ~200 MB takes a while on a loaded machine. */
async function ctr(args: string[]): Promise<string> {
  return (await run('/usr/bin/ctr', ['--address', cd.socket, '--namespace', NS, ...args], { timeout: 300_000 })).stdout;
}
let cd: Containerd;
let hostTmp: string;

/** `ctr run` flags for the DaemonSet's security settings and host mounts. */
function daemonSetFlags(): string[] {
  return [
    '--read-only', '--seccomp',
    ...CTR_DEFAULT_CAPS.filter((c) => !CAPABILITIES.some((k) => k.name === c)).flatMap((c) => ['--cap-drop', `CAP_${c}`]),
    ...CAPABILITIES.flatMap((c) => ['--cap-add', `CAP_${c.name}`]),
    // hostPID: the pid namespace this test runs in is the host's.
    '--with-ns', `pid:/proc/${process.pid}/ns/pid`,
    '--mount', 'type=bind,src=/sys/kernel/tracing,dst=/sys/kernel/tracing,options=rbind:ro',
  ];
}

before(async () => {
  if (skip) return;
  assert.ok(existsSync(ARCHIVE), `${ARCHIVE} is missing: run \`make image\` first`);
  cd = await startContainerd();
  await ctr(['images', 'import', ARCHIVE]);
  hostTmp = mkdtempSync(join(tmpdir(), 'kive-image-'));
});
after(async () => {
  await cd?.stop();
  if (hostTmp) rmSync(hostTmp, { recursive: true, force: true });
});

test('the image', { skip }, async (t) => {
  const { size } = statSync(ARCHIVE);
  t.diagnostic(`archive ${(size / 2 ** 20).toFixed(1)} MiB (compressed layers)`);
  const list = await ctr(['images', 'ls']);
  assert.match(list, new RegExp(IMAGE.replace(/[.]/g, '\\.')));

  await t.test('its entrypoint runs the operator (and says what it misses outside a pod)', async () => {
    const err = await ctr(['run', '--rm', IMAGE, `kive-img-${process.pid}-0`])
      .then(() => assert.fail('the operator ran without NODE_NAME'), (e: { code?: number; stderr?: string }) => e);
    assert.equal(err.code, 2);
    assert.match(String(err.stderr), /operator needs the node name/);
  });

  await t.test('the capabilities are exactly the chart\'s, and kive probe finds a backend with them', async () => {
    const mask = CAPABILITIES.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c.name]!)), 0n);
    const status = await ctr(['run', '--rm', ...daemonSetFlags(), IMAGE, `kive-img-${process.pid}-1`, KIVE[0]!, '-e', 'process.stdout.write(require("fs").readFileSync("/proc/self/status","utf8"))']);
    assert.equal(BigInt('0x' + /CapEff:\s*([0-9a-f]+)/.exec(status)![1]), mask, status);
    const probe = await ctr(['run', '--rm', ...daemonSetFlags(), IMAGE, `kive-img-${process.pid}-2`, ...KIVE, 'probe']);
    assert.match(probe, /^auto\s+(?!none)\w+/m, probe);
  });

  await t.test('kive run with the image\'s sample policy alerts on a read from the host', async () => {
    const id = `kive-img-${process.pid}-3`;
    const started = Date.now();
    const child = spawn('/usr/bin/ctr', [
      '--address', cd.socket, '--namespace', NS, 'run', '--rm', ...daemonSetFlags(),
      // The policy's trap is /tmp/kive-demo-secret.txt; /tmp is a host directory here.
      '--mount', `type=bind,src=${hostTmp},dst=/tmp,options=rbind:rw`,
      IMAGE, id, ...KIVE, 'run', '--policy', '/opt/kive/examples/host-policy.yaml',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const alerts: Array<Record<string, any>> = [];
    const logs: Array<Record<string, any>> = [];
    createInterface({ input: child.stdout }).on('line', (l) => alerts.push(JSON.parse(l)));
    createInterface({ input: child.stderr }).on('line', (l) => { try { logs.push(JSON.parse(l)); } catch { logs.push({ msg: l }); } });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const until = async <T>(what: string, fn: () => T | undefined, ms = 120_000): Promise<T> => {
      for (const end = Date.now() + ms; ;) {
        const v = fn();
        if (v !== undefined) return v;
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${what}; logs: ${JSON.stringify(logs)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await until('"monitoring"', () => logs.find((l) => l.msg === 'monitoring'));
      t.diagnostic(`cold start (ctr run to "monitoring"): ${Date.now() - started} ms`);
      const secret = join(hostTmp, 'kive-demo-secret.txt');
      await run('/bin/cat', [secret]);
      const alert = await until('alert', () => alerts.find((a) => a['kive-policy-name'] === 'host-demo'));
      assert.equal(alert.metadata.path, '/tmp/kive-demo-secret.txt');
      assert.equal(alert.process.binary, realpathSync('/bin/cat'));
      assert.equal(alert.process.arguments, secret);
      const pid = Number((await ctr(['task', 'ls'])).split('\n').find((l) => l.startsWith(`${id} `))?.split(/\s+/)[1]);
      const rss = /VmRSS:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
      t.diagnostic(`RSS of kive run with one trap: ${Math.round(Number(rss) / 1024)} MiB`);
      const stopAt = Date.now();
      await ctr(['task', 'kill', '-s', 'SIGTERM', id]);
      assert.equal(await exited, 0);
      t.diagnostic(`SIGTERM to exit: ${Date.now() - stopAt} ms`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
