// KubeClient over real TLS: requests share connections (client-node alone opened a new
// TLS connection, a full handshake, for every request).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/k8s/rest.ts';

test('KubeClient: requests reuse kept-alive TLS connections', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kive-rest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'pipe' });
  const cert = readFileSync(join(dir, 'c.pem'));
  let handshakes = 0;
  const server = createServer({ key: readFileSync(join(dir, 'k.pem')), cert }, (_req, res) => res.setHeader('content-type', 'application/json').end('{"kind":"Status"}'));
  server.on('secureConnection', () => handshakes++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  const port = (server.address() as { port: number }).port;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, caData: cert.toString('base64') }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const client = new KubeClient(kc);
  for (let i = 0; i < 5; i++) await client.request({ method: 'GET', path: '/api/v1/namespaces' });
  // (undici does not keep the very first connection here; every later one is reused.)
  assert.ok(handshakes <= 2, `5 requests one after another: ${handshakes} TLS connections, not one each`);
  await Promise.all(Array.from({ length: 5 }, () => client.request({ method: 'GET', path: '/api/v1/pods' })));
  const side = handshakes;
  for (let i = 0; i < 5; i++) await client.request({ method: 'GET', path: '/api/v1/namespaces' });
  assert.equal(handshakes, side, 'and those connections are reused afterwards');
});
