// The cluster stays on this machine (registered by user-story.test.ts, right after the
// story): kube-apiserver and the kubelet listen on all addresses, so that pods reach them
// through the bridge, and cluster.sh's filter chain KIVE-E2E lets only this machine (lo)
// and the pod bridge connect. "Outside" is a network namespace joined to the host by a
// veth pair, as another machine on a LAN would be; a TCP server of this test on all
// addresses is reachable from there, so a refusal of 6443 and 10250 is the filter's,
// not broken plumbing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { requireCluster } from './helpers.ts';

const NETNS = 'kive-e2e-outside';
const HOST_IF = 'kive-e2e-out0';
const HOST_ADDR = '10.250.0.1';

function sh(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) =>
    resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })));
}
/** Can a TCP connection from the outside namespace to HOST_ADDR:port be opened (3 s)? */
async function reachableFromOutside(port: number): Promise<boolean> {
  const r = await sh('ip', ['netns', 'exec', NETNS, 'timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${HOST_ADDR}/${port}`]);
  return r.code === 0;
}

export function registerNetworkTests(): void {
  test('nothing outside this machine reaches kube-apiserver or the kubelet; the pods do (they ran the story)', { timeout: 120_000 }, async () => {
    requireCluster();
    const cleanup = async () => {
      await sh('ip', ['link', 'delete', HOST_IF]);
      await sh('ip', ['netns', 'delete', NETNS]);
    };
    await cleanup();
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    try {
      for (const args of [
        ['netns', 'add', NETNS],
        ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NETNS],
        ['addr', 'add', `${HOST_ADDR}/30`, 'dev', HOST_IF],
        ['link', 'set', HOST_IF, 'up'],
        ['netns', 'exec', NETNS, 'ip', 'addr', 'add', '10.250.0.2/30', 'dev', 'eth0'],
        ['netns', 'exec', NETNS, 'ip', 'link', 'set', 'eth0', 'up'],
        ['netns', 'exec', NETNS, 'ip', 'link', 'set', 'lo', 'up'],
      ]) {
        const r = await sh('ip', args);
        assert.equal(r.code, 0, `ip ${args.join(' ')}: ${r.out}`);
      }
      const port = (server.address() as { port: number }).port;
      assert.equal(await reachableFromOutside(port), true, `a server of this host on all addresses (:${port}) is reachable from outside`);
      assert.equal(await reachableFromOutside(6443), false, 'kube-apiserver (6443) is not');
      assert.equal(await reachableFromOutside(10250), false, 'the kubelet (10250) is not');
    } finally {
      server.close();
      await cleanup();
    }
  });
}
