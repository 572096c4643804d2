// The matrix's verdict logic (summary.ts) on made-up result directories: what counts as
// a failure must fail, and a refusal must never be mistaken for a pass. Runs before the
// matrix itself (mk/kernels.mk), in well under a second, no root needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { judgeRow, parseMatrix, render, type Row } from "./summary.ts";

const guestRow: Row = { label: "6.1", pkg: "linux-image-x", version: "1", expect: ["fentry=pass", "kprobe=pass", "auto=fentry"] };
const hostRow: Row = { label: "host", pkg: "-", version: "-", expect: ["tracepoint=pass"] };

const allPass = {
  kernel: "6.1.0-test",
  autoBackend: "fentry",
  backends: { fentry: { status: "pass" }, kprobe: { status: "pass" }, tracepoint: { status: "pass" } },
};
const bench = {
  kernel: "6.1.0-test",
  iterations: 10,
  noHookNs: 1000,
  backends: {
    fentry: { status: "ok", ns: 1100, ratio: 1.1 },
    kprobe: { status: "ok", ns: 1200, ratio: 1.2, progNsPerRun: 640, runsPerOpen: 4.2 },
    tracepoint: { status: "ok", ns: 1300, ratio: 1.3 },
  },
  baseline: { status: "ok", ns: 1050, ratio: 1.05, progNsPerRun: 400, runsPerOpen: 4.1 },
};

/** A result directory as run-matrix.sh + boot-guest.sh + suite.sh leave it. */
function resultDir(files: Record<string, string | object>): { dir: string; done(): void } {
  const root = mkdtempSync(join(tmpdir(), "kive-summary-"));
  const dir = join(root, "row");
  mkdirSync(dir);
  const base: Record<string, string | object> = {
    release: "6.1.0-test",
    where: "qemu/tcg",
    seconds: "12.3",
    status: "ok",
    "exit-code": "0",
    "test-exit": "0",
    "bench-exit": "0",
    "report.json": allPass,
    "bench.json": bench,
  };
  for (const [name, content] of Object.entries({ ...base, ...files })) {
    if (content === "<absent>") continue;
    writeFileSync(join(dir, name), typeof content === "string" ? `${content}\n` : JSON.stringify(content));
  }
  return { dir, done: () => rmSync(root, { recursive: true, force: true }) };
}

function problemsOf(row: Row, files: Record<string, string | object>): string[] {
  const r = resultDir(files);
  try {
    return judgeRow(row, r.dir).problems;
  } finally {
    r.done();
  }
}

test("a fully passing guest has no problems and shows ratios", () => {
  const r = resultDir({});
  try {
    const o = judgeRow(guestRow, r.dir);
    assert.deepEqual(o.problems, []);
    assert.deepEqual(o.cells, { fentry: "pass", kprobe: "pass", tracepoint: "pass" });
    assert.equal(o.overhead.kprobe, "1.20x 640 ns/run 4.2 runs/open");
    assert.equal(o.overhead.fentry, "1.10x");
    assert.equal(o.yardstick, "1.05x 400 ns/run 4.1 runs/open");
    assert.equal(o.noHook, "1000 ns");
    const { text, ok } = render([o], "1.0");
    assert.equal(ok, true);
    assert.match(text, /kernel matrix: OK/);
  } finally {
    r.done();
  }
});

test("a hung or timed-out row is a failure that says so; the slowness is shown", () => {
  const hung = "hung: no output for 120 quiet seconds (scale now 2.00), 300s after the start";
  assert.ok(problemsOf(guestRow, { status: hung, "test-exit": "<absent>" }).some((p) => p.startsWith(hung)));
  const r = resultDir({ calibration: "2.88" });
  try {
    const o = judgeRow(guestRow, r.dir);
    assert.equal(o.scale, "2.88");
    assert.match(render([o]).text, /12\.3s\s+2\.88x/);
  } finally {
    r.done();
  }
});

test("timeout, crash and a non-zero suite exit are failures", () => {
  assert.ok(problemsOf(guestRow, { status: "timeout after 200s", "test-exit": "<absent>", "report.json": "<absent>" }).length > 0);
  assert.ok(problemsOf(guestRow, { "test-exit": "1" }).some((p) => p.includes("exited with 1")));
  assert.ok(problemsOf(guestRow, { "bench-exit": "1" }).some((p) => p.includes("benchmark exited with 1")));
  assert.ok(problemsOf(guestRow, { "test-exit": "<absent>" }).some((p) => p.includes("did not finish")));
});

test("a crash shows the guest's last console lines; a crash on the retry is still a failure", () => {
  const console = ["kive-init: running the job", "BUG: kernel NULL pointer dereference, address: 0000000000000008"]
    .concat(Array.from({ length: 30 }, (_, i) => `line ${i}`), "Kernel panic - not syncing: Fatal exception")
    .join("\n");
  const crashed = problemsOf(guestRow, { status: "crash (guest ended without a result)", "console.log": console });
  assert.ok(crashed[0]?.startsWith("crash (guest ended without a result)"));
  // The first report comes with the lines after it: where the CPU was.
  assert.match(crashed[0] ?? "", /the kernel's first report \(console\.log\):\n    \| BUG: kernel NULL pointer(.|\n)*\| line 10\n/);
  assert.match(crashed[0] ?? "", /what else the kernel said \(console\.log\):\n    \| kive-init: running the job\n/);
  assert.match(crashed[0] ?? "", /last 12 lines of console\.log:\n(.|\n)*\| Kernel panic - not syncing/);

  const twice = problemsOf(guestRow, {
    status: "crash (second)",
    "crash-1.status": "crash (first)",
    "crash-1.console.log": "BUG: unable to handle page fault",
  });
  assert.ok(twice.some((p) => p.startsWith("crash (second)")));
  assert.ok(twice.some((p) => p.startsWith("first boot: crash (first)") && p.includes("| BUG: unable to handle page fault")));
});

test("a lockup that repeats for an hour shows its first report with its trace, and each other kind of line once", () => {
  const report = ["[  224.1] watchdog: BUG: soft lockup - CPU#1 stuck for 63s! [cat:370]", "[  224.1] RIP: 0010:inode_permission+0x12/0x150", "[  224.1] Call Trace:", "[  224.1]  <TASK>", "[  224.1]  link_path_walk+0x2a/0x380"];
  const repeats = Array.from({ length: 100 }, (_, i) => [
    `[ ${300 + i * 30}.8] watchdog: BUG: soft lockup - CPU#1 stuck for ${90 + i * 30}s! [cat:370]`,
    `[ ${310 + i * 30}.4] rcu: INFO: rcu_preempt self-detected stall on CPU`,
  ]).flat();
  const console = ["kive-init: running the job", ...report, ...Array.from({ length: 40 }, (_, i) => `trace ${i}`), ...repeats].join("\n");
  const [hung] = problemsOf(guestRow, { status: "hung: no output for 120 quiet seconds", "console.log": console });
  assert.match(hung ?? "", /first report \(console\.log\):\n    \| \[  224\.1\] watchdog: BUG: soft lockup(.|\n)*RIP: 0010:inode_permission(.|\n)*link_path_walk/);
  const elsewhere = (hung ?? "").split("what else the kernel said")[1]?.split("last 12 lines")[0] ?? "";
  assert.equal(elsewhere.match(/soft lockup/g)?.length, 1, elsewhere);
  assert.equal(elsewhere.match(/self-detected stall/g)?.length, 1, elsewhere);
});

test("a first-boot crash followed by a passing boot passes, with the crash shown as a note", () => {
  const r = resultDir({ "crash-1.status": "crash (first)", "crash-1.console.log": "last words" });
  try {
    const o = judgeRow(guestRow, r.dir);
    assert.deepEqual(o.problems, []);
    assert.equal(o.notes.length, 1);
    assert.match(o.notes[0] ?? "", /^first boot: crash \(first\); the second boot ran the suite(.|\n)*\| last words/);
    assert.match(render([o]).text, /notes:\n  6\.1: first boot: crash/);
  } finally {
    r.done();
  }
});

test("a missing row, report or benchmark is a failure, never a skip", () => {
  const o = judgeRow(guestRow, join(tmpdir(), "kive-summary-does-not-exist"));
  assert.deepEqual(o.problems, ["did not run"]);
  assert.equal(render([o]).ok, false);
  assert.ok(problemsOf(guestRow, { "report.json": "<absent>" }).includes("report.json missing"));
  assert.ok(problemsOf(guestRow, { "bench.json": "not json" }).includes("bench.json not valid JSON"));
  assert.equal(render([]).ok, false);
});

test("a refused backend is reported with its reason; it fails only where a pass is expected", () => {
  const refusedKprobe = { ...allPass, backends: { ...allPass.backends, kprobe: { status: "refused", reason: "no kprobes" } } };
  const r = resultDir({ "report.json": refusedKprobe });
  try {
    const o = judgeRow(guestRow, r.dir);
    assert.equal(o.cells.kprobe, "refused");
    assert.deepEqual(o.refusals, ["kprobe: no kprobes"]);
    assert.deepEqual(o.problems, ["expected kprobe to pass, got refused"]);
    assert.deepEqual(judgeRow({ ...guestRow, expect: [] }, r.dir).problems, []);
  } finally {
    r.done();
  }
});

test("a failing backend, a wrong auto choice and a report for another kernel are failures", () => {
  const failing = { ...allPass, backends: { ...allPass.backends, tracepoint: { status: "fail", reason: "no event" } } };
  assert.ok(problemsOf(hostRow, { "report.json": failing }).some((p) => p.startsWith("tracepoint: FAILED: no event")));
  assert.ok(problemsOf(guestRow, { "report.json": { ...allPass, autoBackend: "kprobe" } }).includes("expected auto backend fentry, got kprobe"));
  assert.ok(
    problemsOf(guestRow, { "report.json": { ...allPass, autoBackend: null } }).includes("expected auto backend fentry, got none"),
  );
  assert.ok(problemsOf(guestRow, { release: "6.12.0-other" }).some((p) => p.startsWith("report.json is for kernel")));
  const noKprobe = { ...allPass, backends: { fentry: { status: "pass" }, tracepoint: { status: "pass" } } };
  assert.ok(problemsOf({ ...guestRow, expect: [] }, { "report.json": noKprobe }).includes("kprobe: missing from report.json"));
  const autoRefused = { ...allPass, backends: { ...allPass.backends, fentry: { status: "refused", reason: "x" } } };
  assert.ok(problemsOf({ ...guestRow, expect: [] }, { "report.json": autoRefused }).includes("auto-selected backend fentry did not pass"));
});

test("the committed matrix parses and holds the required rows", () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const rows = parseMatrix(readFileSync(join(here, "matrix.txt"), "utf8"));
  const host = rows.find((r) => r.pkg === "-");
  assert.ok(host?.expect.includes("tracepoint=pass"), "host row expects tracepoint to pass");
  const six1 = rows.find((r) => r.pkg.startsWith("linux-image-6.1.0-"));
  assert.ok(six1, "a Debian 6.1 row");
  for (const e of ["fentry=pass", "kprobe=pass", "auto=fentry"]) assert.ok(six1.expect.includes(e), `6.1 expects ${e}`);
  assert.ok(rows.some((r) => r.pkg.startsWith("linux-image-6.12.")), "a Debian 6.12 row");
  for (const r of rows) if (r.pkg !== "-") assert.doesNotMatch(r.pkg, /-(cloud|rt)-/, "plain amd64 flavour (cloud has no 9p)");
  for (const bad of ["fentry=maybe", "kprobe", "auto=lsm", "tracepoint=pass=pass", "lsm=pass"]) {
    assert.throws(() => parseMatrix(`x pkg 1 ${bad}\n`), /bad expectation/, bad);
  }
});

// TAP as Node 24's reporter writes it: a failing leaf under a parent, a plain failure,
// and a test file whose process died (exit code 7, no test of its own reported).
const TAP = `TAP version 13
# Subtest: parent
    # Subtest: leaf ok
    ok 1 - leaf ok
      ---
      duration_ms: 2.7
      ...
    # Subtest: leaf bad
    not ok 2 - leaf bad
      ---
      failureType: 'testCodeFailure'
      error: |-
        one is not two
        
        1 !== 2
      code: 'ERR_ASSERTION'
      ...
    1..2
not ok 1 - parent
  ---
  failureType: 'subtestsFailed'
  error: '1 subtest failed'
  code: 'ERR_TEST_FAILURE'
  ...
# Subtest: /repo/test/kernel/backends.test.ts
not ok 2 - /repo/test/kernel/backends.test.ts
  ---
  failureType: 'testCodeFailure'
  exitCode: 7
  signal: ~
  error: 'test failed'
  code: 'ERR_TEST_FAILURE'
  ...
1..2
`;

test("a failing suite names its failing tests and a test file that died, with its exit code", () => {
  const r = resultDir({ "test-exit": "1", "tests.tap": TAP });
  try {
    const o = judgeRow(guestRow, r.dir);
    const p = o.problems.find((x) => x.startsWith("kernel test suite exited with 1")) ?? "";
    assert.match(p, /failed: leaf bad: one is not two/);
    assert.match(p, /failed: \/repo\/test\/kernel\/backends\.test\.ts: test failed \(exit code 7\)/);
    assert.doesNotMatch(p, /failed: parent/, "a parent failing only through its subtests is not listed");
  } finally {
    r.done();
  }
});

test("Node's diagnostic reports of a process that died are shown", () => {
  const report = { header: { event: "Exception", trigger: "Exception", commandLine: ["node", "test/kernel/evasion.test.ts"] }, javascriptStack: { message: "Error: boom", stack: ["at load (object-loader.ts:1:1)"] } };
  const r = resultDir({});
  try {
    mkdirSync(join(r.dir, "node-reports"));
    writeFileSync(join(r.dir, "node-reports", "report.1.json"), JSON.stringify(report));
    const o = judgeRow(guestRow, r.dir);
    assert.ok(o.notes.some((n) => /node report report\.1\.json: Exception \(Exception\) in test\/kernel\/evasion\.test\.ts: Error: boom at load/.test(n)), o.notes.join("\n"));
  } finally {
    r.done();
  }
});
