// Callback delivery against real receivers on loopback (HTTP and HTTPS with a test CA
// made by openssl): at least once, ids, signatures, the shared queue bound, certificates.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { addAlertId, alertIdOf } from '../../src/alerts/alert-id.ts';
import { CALLBACK_DEFAULTS, CallbackSink } from '../../src/alerts/callback.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

function serve(server: Server, handler: Handler): Server {
  server.on('request', (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  return server;
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

async function shut(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

function logs() {
  const lines: Array<{ msg: string; obj: Record<string, unknown> }> = [];
  return { lines, log: { warn: (obj: object, msg: string) => void lines.push({ msg, obj: obj as Record<string, unknown> }) } };
}

const alert = (n: number) => addAlertId(JSON.stringify({ 'kive-alert-version': 'v1', n }));
const fast = { baseBackoffMs: 20, maxBackoffMs: 200, warnEveryMs: 0 };

test('receiver down, then back: every alert arrives; duplicates only with the same id and body', async () => {
  const probe = createServer();
  const port = await listen(probe);
  await shut(probe); // the port is free: connections are refused until the receiver starts
  const sink = new CallbackSink({ ...fast, retryForMs: 60_000 });
  const sent = Array.from({ length: 30 }, (_, i) => alert(i));
  for (const a of sent) sink.send(`http://127.0.0.1:${port}/hook`, a);
  // Down for longer than the old retries lasted (4 attempts, ~1.4 s).
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal(sink.outcomes.delivered, 0);
  const got: Array<{ key: string; body: string }> = [];
  let cut = 3;
  const server = serve(createServer(), (req, body, res) => {
    got.push({ key: String(req.headers['idempotency-key']), body });
    // Received, but the answer is lost: Kive must send it again, with the same id.
    if (cut-- > 0) return void req.socket.destroy();
    res.end('ok');
  });
  await listen(server, port);
  try {
    await sink.drain();
    assert.deepEqual(sink.outcomes, { delivered: 30, failed: 0, dropped: 0, spooled: 0 });
    const byId = new Map<string, string>();
    for (const g of got) {
      assert.equal(alertIdOf(g.body), g.key, 'Idempotency-Key is the alert-id in the body');
      if (byId.has(g.key)) assert.equal(byId.get(g.key), g.body, 'a duplicate is byte for byte the same alert');
      byId.set(g.key, g.body);
    }
    assert.deepEqual(new Set(byId.values()), new Set(sent), 'every alert arrived');
    assert.ok(got.length > 30, 'the cut answers were retried');
  } finally {
    await shut(server);
  }
});

test('429 with Retry-After is honoured; a 400 is final', async () => {
  const at: number[] = [];
  const server = serve(createServer(), (_req, body, res) => {
    if (JSON.parse(body).n === 1) return void res.writeHead(400).end();
    at.push(Date.now());
    if (at.length === 1) return void res.writeHead(429, { 'retry-after': '1' }).end();
    res.end();
  });
  const port = await listen(server);
  try {
    const sink = new CallbackSink({ ...fast, retryForMs: 60_000 });
    sink.send(`http://127.0.0.1:${port}/`, alert(0));
    sink.send(`http://127.0.0.1:${port}/`, alert(1));
    await sink.drain();
    assert.deepEqual(sink.outcomes, { delivered: 1, failed: 1, dropped: 0, spooled: 0 });
    assert.equal(at.length, 2);
    assert.ok(at[1]! - at[0]! >= 950, `waited ${at[1]! - at[0]!} ms, Retry-After said 1 s`);
  } finally {
    await shut(server);
  }
});

test('the queue bound is per process: a dead destination cannot starve another; overflow counted and logged', async () => {
  const silent = serve(createServer(), () => {}); // reads, never answers
  const ok = serve(createServer(), (_req, _body, res) => res.end());
  const [deadPort, okPort] = [await listen(silent), await listen(ok)];
  const { lines, log } = logs();
  try {
    const sink = new CallbackSink({ ...fast, maxQueued: 20, concurrencyPerUrl: 2, timeoutMs: 60_000, log });
    for (let i = 0; i < 100; i++) sink.send(`http://127.0.0.1:${deadPort}/dead`, alert(i));
    assert.deepEqual(sink.queued.entries, 20);
    assert.equal(sink.outcomes.dropped, 80);
    for (let i = 0; i < 10; i++) sink.send(`http://127.0.0.1:${okPort}/ok?token=secret`, alert(i));
    assert.ok(sink.queued.entries <= 20);
    const out = await sink.close(3_000);
    const per = sink.perDestination();
    assert.deepEqual(per[`http://127.0.0.1:${okPort}/ok`], { delivered: 10, failed: 0, dropped: 0, spooled: 0 }, 'the live destination got all of its alerts');
    assert.deepEqual(per[`http://127.0.0.1:${deadPort}/dead`], { delivered: 0, failed: 20 - 10, dropped: 90, spooled: 0 });
    assert.equal(out.delivered + out.failed + out.dropped, 110);
    const full = lines.filter((l) => l.msg === 'callback queue full: alerts dropped');
    assert.ok(full.length >= 1);
    assert.equal(full.reduce((n, l) => n + (l.obj.dropped as number), 0), 90, 'every drop is in a log line, exactly');
    assert.ok(!JSON.stringify(lines).includes('token=secret'), 'no query string in the logs');
  } finally {
    await shut(silent);
    await shut(ok);
  }
});

test('X-Kive-Signature verifies with the key and not with a wrong one', async () => {
  const key = Buffer.from('s3cret-key');
  const seen: Array<{ sig: string; body: string }> = [];
  const server = serve(createServer(), (req, body, res) => {
    seen.push({ sig: String(req.headers['x-kive-signature']), body });
    res.end();
  });
  const port = await listen(server);
  try {
    const sink = new CallbackSink({ ...fast, secret: key });
    sink.send(`http://127.0.0.1:${port}/`, alert(1));
    await sink.drain();
    const { sig, body } = seen[0]!;
    const hmac = (k: Buffer) => `sha256=${createHmac('sha256', k).update(body).digest('hex')}`;
    assert.equal(sig, hmac(key));
    assert.notEqual(sig, hmac(Buffer.from('wrong-key')));
    const unsigned = new CallbackSink(fast);
    unsigned.send(`http://127.0.0.1:${port}/`, alert(2));
    await unsigned.drain();
    assert.equal(seen[1]!.sig, 'undefined', 'no key: no signature header');
  } finally {
    await shut(server);
  }
});

test('the receiver example of docs/alerts.md ("Signature") accepts an alert signed with its key, and refuses another key or none', async () => {
  const doc = readFileSync(new URL('../../docs/alerts.md', import.meta.url), 'utf8');
  const example = /#### Signature[\s\S]*?```js\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example, 'docs/alerts.md has the example');
  const free = createServer();
  const p = await listen(free);
  await shut(free);
  const rx = spawn(process.execPath, ['--no-memory-protection-keys', '--input-type=module', '-e', example], { env: { ...process.env, KIVE_KEY: 'doc-key', PORT: String(p) }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  rx.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  try {
    const url = `http://127.0.0.1:${p}/`;
    const signed = new CallbackSink({ ...fast, secret: Buffer.from('doc-key'), retryForMs: 10_000 });
    const accepted = alert(1);
    signed.send(url, accepted); // retried while the example starts listening
    await signed.drain();
    assert.deepEqual(signed.outcomes, { delivered: 1, failed: 0, dropped: 0, spooled: 0 });
    for (const sink of [new CallbackSink({ ...fast, secret: Buffer.from('other-key') }), new CallbackSink(fast)]) {
      sink.send(url, alert(2));
      await sink.drain();
      assert.deepEqual(sink.outcomes, { delivered: 0, failed: 1, dropped: 0, spooled: 0 }, '401: final');
    }
    assert.ok(out.startsWith(`${alertIdOf(accepted)} `), `the example printed the alert it accepted, by its key: ${out}`);
    assert.equal(out.split(alertIdOf(accepted) as string).length, 3, 'once: as the key and inside the alert');
  } finally {
    rx.kill();
  }
});

const dir = mkdtempSync(join(tmpdir(), 'kive-ca-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
function makeCerts() {
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=kive test CA');
  ssl('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'san.ext');
  ssl('req', '-x509', ...ec, '-keyout', 'self.key', '-out', 'self.pem', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
  const f = (n: string) => readFileSync(join(dir, n));
  return { ca: f('ca.pem'), srv: { key: f('srv.key'), cert: f('srv.pem') }, self: { key: f('self.key'), cert: f('self.pem') } };
}

test('https: a custom CA works; a self-signed or unknown certificate fails with a clear cause', async () => {
  const certs = makeCerts();
  const ok = serve(createHttpsServer(certs.srv), (_req, _body, res) => res.end());
  const self = serve(createHttpsServer(certs.self), (_req, _body, res) => res.end());
  const [okPort, selfPort] = [await listen(ok), await listen(self)];
  try {
    let handshakes = 0;
    ok.on('secureConnection', () => handshakes++);
    const withCa = new CallbackSink({ ...fast, ca: certs.ca });
    for (let i = 0; i < 40; i++) withCa.send(`https://127.0.0.1:${okPort}/`, alert(i));
    await withCa.drain();
    assert.deepEqual(withCa.outcomes, { delivered: 40, failed: 0, dropped: 0, spooled: 0 });
    assert.ok(handshakes >= 1 && handshakes <= CALLBACK_DEFAULTS.concurrencyPerUrl, `kept-alive TLS connections: ${handshakes} handshakes for 40 alerts`);
    await withCa.close(100);

    const cases = [
      { url: `https://127.0.0.1:${selfPort}/`, ca: certs.ca, code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
      { url: `https://127.0.0.1:${okPort}/`, ca: undefined, code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    ];
    for (const c of cases) {
      const { lines, log } = logs();
      const sink = new CallbackSink({ ...fast, retryForMs: 100, log, ...(c.ca ? { ca: c.ca } : {}) });
      sink.send(c.url, alert(2));
      await sink.drain();
      assert.equal(sink.outcomes.failed, 1);
      const failed = lines.find((l) => l.msg === 'callback delivery failed')!;
      assert.equal(failed.obj.error, c.code);
      assert.match(String(failed.obj.cause), /certificate not trusted.*--callback-ca-file/);
    }
  } finally {
    await shut(ok);
    await shut(self);
  }
});

test('causes are named: a refused port and an unknown host log different errors', async () => {
  const { lines, log } = logs();
  const sink = new CallbackSink({ ...fast, retryForMs: 100, log });
  sink.send('http://127.0.0.1:1/', alert(1));
  sink.send(`http://kive-${randomUUID()}.invalid/`, alert(2));
  await sink.drain();
  const errors = lines.filter((l) => l.msg === 'callback delivery failed').map((l) => l.obj.error).sort();
  assert.deepEqual(errors, ['ECONNREFUSED', 'ENOTFOUND']);
});

test('a URL with credentials is refused, counted, and its password never logged', async () => {
  const { lines, log } = logs();
  const sink = new CallbackSink({ ...fast, log });
  sink.send('http://user:hunter2@127.0.0.1:1/', alert(1));
  await sink.drain();
  assert.deepEqual(sink.outcomes, { delivered: 0, failed: 1, dropped: 0, spooled: 0 });
  assert.ok(lines.length > 0);
  assert.ok(!JSON.stringify(lines).includes('hunter2'));
});

test('a slow, failing or silent receiver does not touch stdout; close stays bounded and every alert is counted', async () => {
  const { openSync, closeSync } = await import('node:fs');
  const { StdoutSink } = await import('../../src/alerts/stdout.ts');
  const { Fanout } = await import('../../src/alerts/core.ts');
  const receivers = {
    slow: serve(createServer(), (_req, _body, res) => void setTimeout(() => res.end(), 5_000).unref()),
    failing: serve(createServer(), (_req, _body, res) => void res.writeHead(500).end()),
    silent: serve(createServer(), () => {}),
  };
  try {
    for (const [kind, server] of Object.entries(receivers)) {
      const port = await listen(server);
      const file = join(dir, `stdout-${kind}`);
      const fd = openSync(file, 'w');
      const stdout = new StdoutSink(fd);
      closeSync(fd); // the sink has its own copy
      const callbacks = new CallbackSink({ ...fast, retryForMs: 60_000, timeoutMs: 60_000 });
      const out = new Fanout([stdout, callbacks]);
      const trap = { policyName: 'p', path: '/x', customMetadata: {}, podName: '', podNamespace: '', containerId: '', containerName: '', callback: `http://127.0.0.1:${port}/` };
      for (let i = 0; i < 200; i++) out.emit(JSON.stringify({ i }), [trap]);
      out.flush();
      // Synchronously after the batch: stdout has every line, whatever the receiver does.
      assert.equal(readFileSync(file, 'utf8').split('\n').length - 1, 200, kind);
      assert.equal(callbacks.outcomes.delivered, 0, kind);
      const [toStdout, toCallbacks] = await Promise.all([stdout.close(300), callbacks.close(300)]);
      assert.deepEqual(toStdout, { delivered: 200, dropped: 0, failed: 0 }, kind);
      assert.deepEqual(toCallbacks, { delivered: 0, dropped: 0, failed: 200, spooled: 0 }, kind);
    }
  } finally {
    for (const s of Object.values(receivers)) await shut(s);
  }
});

/** Counts the TCP connections `server` accepts and those still open. */
function connections(server: Server) {
  const open = new Set<object>();
  const c = { accepted: 0, open };
  server.on('connection', (socket) => {
    c.accepted++;
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return c;
}

test('keep-alive: 300 alerts to one receiver go over a few connections, and close() closes them', async () => {
  const server = serve(createServer(), (_req, _body, res) => res.writeHead(204).end());
  const conns = connections(server);
  const port = await listen(server);
  try {
    const sink = new CallbackSink(fast);
    for (let i = 0; i < 300; i++) sink.send(`http://127.0.0.1:${port}/hook`, alert(i));
    await sink.drain();
    assert.deepEqual(sink.outcomes, { delivered: 300, failed: 0, dropped: 0, spooled: 0 });
    assert.ok(conns.accepted >= 1 && conns.accepted <= CALLBACK_DEFAULTS.concurrencyPerUrl, `${conns.accepted} connections for 300 alerts`);
    assert.ok(conns.open.size > 0, 'idle connections kept for the next alert');
    await sink.close(100);
    for (const end = Date.now() + 2_000; conns.open.size > 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
    assert.equal(conns.open.size, 0, 'the sink closed its idle connections: none can keep the process up after shutdown');
  } finally {
    await shut(server);
  }
});

test('keep-alive race: a connection the receiver closes when it is reused is retried on a new one, not counted as failed', async () => {
  // Each connection's first request is answered; a second one on it finds the connection
  // closed under it (as when a receiver's keep-alive timeout ends just as Kive reuses it).
  const requests = new WeakMap<object, number>();
  let cut = 0;
  const server = serve(createServer(), (req, _body, res) => {
    const n = (requests.get(req.socket) ?? 0) + 1;
    requests.set(req.socket, n);
    if (n === 1) return void res.writeHead(204).end();
    cut++;
    req.socket.destroy();
  });
  const conns = connections(server);
  const port = await listen(server);
  const { lines, log } = logs();
  try {
    // No time to retry: an attempt that failed in the sink's eyes is a failed alert.
    const sink = new CallbackSink({ ...fast, retryForMs: 1, log });
    for (let i = 0; i < 40; i++) sink.send(`http://127.0.0.1:${port}/`, alert(i));
    await sink.drain();
    assert.deepEqual(sink.outcomes, { delivered: 40, failed: 0, dropped: 0, spooled: 0 });
    assert.ok(cut > 0, 'reused connections were cut');
    assert.equal(conns.accepted, 40, 'each alert answered on a connection of its own');
    assert.deepEqual(lines, [], 'nothing logged as failed');
    await sink.close(100);
  } finally {
    await shut(server);
  }
});
