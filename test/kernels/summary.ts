// summary.ts MATRIX RESULTS_DIR [SECONDS]
//
// Reads what each matrix row left in RESULTS_DIR/LABEL/ (see run-matrix.sh), prints the
// kernel x backend table with the overhead ratios and the kernels' refusal reasons, and
// exits non-zero when anything is wrong: a row that did not run to the end (timeout,
// crash, missing package), a failing test or benchmark, a missing or inconsistent
// report, or an expectation from matrix.txt that is not met. A backend the kernel
// refuses is not a failure by itself (the host kernel has no kprobes and refuses
// fentry); it is one when matrix.txt expects that backend to pass there.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { BACKEND_PREFERENCE, type BackendName } from "../../src/kernel/backends/index.ts";

// The matrix's columns are the backend registry's (src/kernel/backends/), in its order.
export const BACKENDS = BACKEND_PREFERENCE;
export type Backend = BackendName;

export interface Row {
  label: string;
  pkg: string; // "-" for the host kernel
  version: string;
  expect: string[]; // "fentry=pass", "auto=fentry", ...
}

interface BackendResult {
  status: string;
  reason?: string;
}
interface Report {
  kernel: string;
  autoBackend: string | null;
  backends: Partial<Record<Backend, BackendResult>>;
}
// bench/overhead.ts's OverheadResult, as read back from JSON (so nothing is trusted).
interface BenchBackend {
  status: string;
  ns?: number;
  ratio?: number;
  reason?: string;
  progNsPerRun?: number; // the kernel's own run-time accounting, per program run
  runsPerOpen?: number;
}
interface Bench {
  kernel: string;
  iterations: number;
  noHookNs: number;
  backends: Record<string, BenchBackend>;
  baseline?: BenchBackend; // the yardstick program (bench/baseline.bpf.c)
}

/** What one row's directory tells, already judged. */
export interface RowOutcome {
  row: Row;
  ran: boolean;
  release: string;
  where: string;
  seconds: string;
  scale: string; // the row's time scale from calibrate.ts ("2.88"), or "?"
  auto: string;
  cells: Record<Backend, string>; // test result: "pass", "refused", "FAIL", "?", "-"
  overhead: Record<Backend, string>; // "1.11x 640 ns/run 4.0 runs/open", "refused", "-"
  yardstick: string; // the same for the baseline program
  noHook: string; // "27151 ns" per open+close pair without a hook, or "-"
  refusals: string[]; // "fentry: reason"
  problems: string[];
  notes: string[];
}

export function parseMatrix(text: string): Row[] {
  const rows: Row[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [label, pkg, version, ...expect] = line.split(/\s+/);
    if (label === undefined || pkg === undefined || version === undefined) {
      throw new Error(`matrix.txt: malformed line: ${line}`);
    }
    for (const e of expect) {
      const [k = "", v = "", extra] = e.split("=");
      const backends: readonly string[] = BACKENDS;
      const ok =
        extra === undefined &&
        ((k === "auto" && (backends.includes(v) || v === "none")) ||
          (backends.includes(k) && ["pass", "fail", "refused"].includes(v)));
      if (!ok) throw new Error(`matrix.txt: bad expectation "${e}" for ${label}`);
    }
    rows.push({ label, pkg, version, expect });
  }
  return rows;
}

function readText(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, "utf8").trim() : undefined;
}

/** Parses JSON, tolerating stray log lines around it (takes the last `{...}` line). */
function readJson(path: string): { value?: unknown; error?: string } {
  const text = readText(path);
  if (text === undefined) return { error: "missing" };
  try {
    return { value: JSON.parse(text) };
  } catch {
    const last = text.split("\n").reverse().find((l) => l.trim().startsWith("{"));
    if (last !== undefined) {
      try {
        return { value: JSON.parse(last) };
      } catch {
        /* fall through */
      }
    }
    return { error: "not valid JSON" };
  }
}

// Lines that say why a kernel died; a panic's last lines are mostly stack addresses.
const KERNEL_TROUBLE = /BUG:|Oops|Kernel panic|general protection|WARNING:|RIP: 0010|kive-init:|Out of memory|rcu: INFO: .*stall/;
// The first report's registers and call trace (where the CPU was) follow it.
const FIRST_REPORT_LINES = 40;

/** What a guest printed, for a problem or a note: the first report of a kernel failure
 * with the lines after it (its registers and call trace), the other distinct failure
 * lines (up to 10; a lockup repeats the same one every half minute), then its last
 * lines. "" when there is no console log. */
export function consoleTail(dir: string, file: string, lastLines = 12): string {
  const text = readText(join(dir, file));
  if (text === undefined || text === "") return "";
  const lines = text.split("\n");
  const tail = lines.slice(-lastLines);
  const body = lines.slice(0, -lastLines);
  const first = body.findIndex((l) => KERNEL_TROUBLE.test(l) && !l.includes("kive-init:"));
  const firstReport = first < 0 ? [] : body.slice(first, first + FIRST_REPORT_LINES);
  const seen = new Set<string>();
  const trouble = body
    .filter((l, i) => KERNEL_TROUBLE.test(l) && (first < 0 || i < first || i >= first + FIRST_REPORT_LINES))
    .filter((l) => {
      const shape = l.replace(/^\[\s*[\d.]+\]\s*/, "").replace(/\d+/g, "N");
      if (seen.has(shape)) return false;
      seen.add(shape);
      return true;
    })
    .slice(0, 10);
  const indent = (ls: string[]) => ls.map((l) => `    | ${l}`).join("\n");
  return (
    (firstReport.length > 0 ? `\n    the kernel's first report (${file}):\n${indent(firstReport)}` : "") +
    (trouble.length > 0 ? `\n    what else the kernel said (${file}):\n${indent(trouble)}` : "") +
    `\n    last ${tail.length} lines of ${file}:\n${indent(tail)}`
  );
}

/**
 * The tests that failed, from the suite's TAP report (suite.sh writes tests.tap beside
 * the spec output): "name: error" for each failing leaf, up to `max`, so the verdict
 * names what broke even when only the summary is read. A test file that died (a crash,
 * a signal) is a failing leaf too, with its exit code in the error.
 */
export function failedTests(dir: string, max = 8): string[] {
  const text = readText(join(dir, "tests.tap"));
  if (text === undefined) return [];
  const lines = text.split("\n");
  const failures: { depth: number; name: string; error: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)not ok \d+ - (.*)$/.exec(lines[i] ?? "");
    if (m === null) continue;
    const depth = (m[1] ?? "").length;
    let error = "";
    let code = "";
    for (let j = i + 1; j < lines.length && j < i + 40; j++) {
      const l = lines[j] ?? "";
      if (/^\s*\.\.\.\s*$/.test(l)) break;
      const e = /^\s*error: (.*)$/.exec(l);
      if (e !== null && error === "") error = (e[1] ?? "").replace(/^['|>-]+\s*/, "").replace(/'$/, "");
      const c = /^\s*exitCode: (.*)$/.exec(l);
      if (c !== null) code = ` (exit code ${c[1]})`;
      if (error === "" && e !== null && e[1]?.trim() === "|-") error = (lines[j + 1] ?? "").trim();
    }
    // A parent whose only fault is its failing subtests adds nothing: keep the leaves.
    if (/subtests? failed/.test(error)) continue;
    failures.push({ depth, name: m[2] ?? "", error: `${error}${code}` });
  }
  const out = failures.slice(0, max).map((f) => `${f.name}: ${f.error.slice(0, 300)}`);
  if (failures.length > max) out.push(`... and ${failures.length - max} more`);
  return out;
}

/** Node's diagnostic reports (suite.sh: --report-on-fatalerror), one line each: event and first JS frame. */
export function nodeReports(dir: string): string[] {
  const reports = join(dir, "node-reports");
  if (!existsSync(reports)) return [];
  return readdirSync(reports)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => {
      const r = readJson(join(reports, f));
      const v = isObject(r.value) ? r.value : {};
      const header = isObject(v["header"]) ? v["header"] : {};
      const js = isObject(v["javascriptStack"]) ? v["javascriptStack"] : {};
      const stack = Array.isArray(js["stack"]) ? String(js["stack"][0] ?? "").trim() : "";
      const argv = Array.isArray(header["commandLine"]) ? (header["commandLine"] as unknown[]).slice(-1).join(" ") : "";
      return `node report ${f}: ${String(header["event"] ?? "?")} (${String(header["trigger"] ?? "?")}) in ${argv}: ${String(js["message"] ?? "")} ${stack}`.slice(0, 500);
    });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function judgeRow(row: Row, dir: string): RowOutcome {
  const cells = Object.fromEntries(BACKENDS.map((b) => [b, "-"])) as Record<Backend, string>;
  const overhead = Object.fromEntries(BACKENDS.map((b) => [b, "-"])) as Record<Backend, string>;
  const out: RowOutcome = {
    row,
    ran: existsSync(dir),
    release: readText(join(dir, "release")) ?? "?",
    where: readText(join(dir, "where")) ?? "?",
    seconds: readText(join(dir, "seconds")) ?? "?",
    scale: readText(join(dir, "calibration")) ?? "?",
    auto: "?",
    cells,
    overhead,
    yardstick: "-",
    noHook: "-",
    refusals: [],
    problems: [],
    notes: [],
  };
  if (!out.ran) {
    out.problems.push("did not run");
    return out;
  }
  const status = readText(join(dir, "status")) ?? "no status";
  if (status !== "ok") out.problems.push(`${status}${consoleTail(dir, "console.log")}`);
  // boot-guest.sh boots a crashed guest once more; the first crash is always shown.
  const firstCrash = readText(join(dir, "crash-1.status"));
  if (firstCrash !== undefined) {
    const tail = consoleTail(dir, "crash-1.console.log");
    if (status === "ok") out.notes.push(`first boot: ${firstCrash}; the second boot ran the suite${tail}`);
    else out.problems.push(`first boot: ${firstCrash}${tail}`);
  }
  const exit = readText(join(dir, "test-exit"));
  if (exit !== undefined && exit !== "0") {
    const failed = failedTests(dir);
    out.problems.push(`kernel test suite exited with ${exit}${failed.map((f) => `\n    failed: ${f}`).join("")}`);
  } else if (exit === undefined && status === "ok") out.problems.push("kernel test suite did not finish");
  out.notes.push(...nodeReports(dir));
  const benchExit = readText(join(dir, "bench-exit"));
  if (benchExit !== undefined && benchExit !== "0") out.problems.push(`overhead benchmark exited with ${benchExit}`);

  // --- report.json (KIVE_KERNEL_REPORT contract) ---
  const rep = readJson(join(dir, "report.json"));
  let report: Report | undefined;
  if (rep.error !== undefined) out.problems.push(`report.json ${rep.error}`);
  else if (!isObject(rep.value) || !isObject(rep.value["backends"])) out.problems.push("report.json has no backends");
  else report = rep.value as unknown as Report;

  const bj = readJson(join(dir, "bench.json"));
  let bench: Bench | undefined;
  if (bj.error !== undefined) out.problems.push(`bench.json ${bj.error}`);
  else if (!isObject(bj.value) || !isObject(bj.value["backends"])) out.problems.push("bench.json has no backends");
  else bench = bj.value as unknown as Bench;

  if (report !== undefined) {
    if (report.kernel !== out.release) {
      out.problems.push(`report.json is for kernel "${report.kernel}", expected "${out.release}"`);
    }
    out.auto = report.autoBackend ?? "none";
    for (const b of BACKENDS) {
      const r = report.backends[b];
      if (r === undefined) {
        cells[b] = "?";
        out.problems.push(`${b}: missing from report.json`);
        continue;
      }
      const bb = bench?.backends[b];
      switch (r.status) {
        case "pass":
          cells[b] = "pass";
          if (bench !== undefined && bb?.status !== "ok") {
            out.notes.push(`${b}: suite passed but benchmark says ${bb?.status ?? "nothing"}${bb?.reason ? ` (${bb.reason})` : ""}`);
          }
          break;
        case "refused":
          cells[b] = "refused";
          out.refusals.push(`${b}: ${r.reason ?? "(no reason given)"}`);
          break;
        case "fail":
          cells[b] = "FAIL";
          out.problems.push(`${b}: FAILED${r.reason ? `: ${r.reason}` : ""}`);
          break;
        default:
          cells[b] = "?";
          out.problems.push(`${b}: unknown status "${String(r.status)}"`);
      }
    }
    if (report.autoBackend !== null && report.backends[report.autoBackend as Backend]?.status !== "pass") {
      out.problems.push(`auto-selected backend ${report.autoBackend} did not pass`);
    }
  }
  if (bench !== undefined) {
    out.noHook = typeof bench.noHookNs === "number" ? `${Math.round(bench.noHookNs)} ns` : "?";
    for (const b of BACKENDS) overhead[b] = overheadCell(bench.backends[b]);
    out.yardstick = overheadCell(bench.baseline);
    if (bench.baseline !== undefined && bench.baseline.status !== "ok" && bench.baseline.status !== "refused") {
      out.problems.push(`benchmark baseline program: status "${bench.baseline.status}"`);
    }
    if (bench.kernel !== out.release) out.problems.push(`bench.json is for kernel "${bench.kernel}", expected "${out.release}"`);
    for (const [name, bb] of Object.entries(bench.backends)) {
      if (bb.status !== "ok" && bb.status !== "refused") out.problems.push(`benchmark ${name}: status "${bb.status}"`);
    }
  }

  for (const e of row.expect) {
    const [k, v] = e.split("=") as [string, string];
    if (k === "auto") {
      if (out.auto !== v) out.problems.push(`expected auto backend ${v}, got ${out.auto}`);
    } else {
      const got = report?.backends[k as Backend]?.status ?? "nothing";
      if (got !== v) out.problems.push(`expected ${k} to ${v}, got ${got}`);
    }
  }
  return out;
}

function overheadCell(bb: BenchBackend | undefined): string {
  if (bb === undefined) return "?";
  if (bb.status !== "ok" || typeof bb.ratio !== "number") return bb.status;
  const perRun = typeof bb.progNsPerRun === "number" ? ` ${Math.round(bb.progNsPerRun)} ns/run` : "";
  const runs = typeof bb.runsPerOpen === "number" ? ` ${bb.runsPerOpen.toFixed(1)} runs/open` : "";
  return `${bb.ratio.toFixed(2)}x${perRun}${runs}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

export function render(outcomes: RowOutcome[], seconds?: string): { text: string; ok: boolean } {
  const lines: string[] = [];
  lines.push("", "=== Kernel matrix: eBPF backends ===");
  const head = ["kernel", "release", "ran on", "time", "slowness", "auto", ...BACKENDS];
  const body = outcomes.map((o) => [
    o.row.label,
    o.release,
    o.where,
    o.seconds === "?" ? "?" : `${o.seconds}s`,
    o.scale === "?" ? "?" : `${o.scale}x`,
    o.auto,
    ...BACKENDS.map((b) => o.cells[b]),
  ]);
  lines.push(table([head, ...body]));
  lines.push(
    "",
    "slowness: the row's time scale against a quiet TCG guest (calibrate.ts); its time",
    "limits were stretched by it or by the host's load, whichever was larger (watchdog.ts)",
    "",
    "overhead: open+close of an unmonitored file with the backend loaded, relative to no hook",
    "(bench/overhead.ts; ns/run = the kernel's own accounting per program run; baseline =",
    "bench/baseline.bpf.c, a kprobe on inode_permission doing one hash lookup; in QEMU's",
    "software emulation only same-run comparisons mean anything, and they are noisy)",
  );
  const ohead = ["kernel", "no hook/pair", ...BACKENDS, "baseline"];
  const obody = outcomes.map((o) => [o.row.label, o.noHook, ...BACKENDS.map((b) => o.overhead[b]), o.yardstick]);
  lines.push(table([ohead, ...obody]));
  const refusals = outcomes.flatMap((o) => o.refusals.map((r) => `  ${o.row.label}: ${r}`));
  if (refusals.length > 0) lines.push("", "refused by the kernel:", ...refusals);
  const notes = outcomes.flatMap((o) => o.notes.map((n) => `  ${o.row.label}: ${n}`));
  if (notes.length > 0) lines.push("", "notes:", ...notes);
  const problems = outcomes.flatMap((o) => o.problems.map((p) => `  ${o.row.label}: ${p}`));
  lines.push("", problems.length > 0 ? "PROBLEMS:" : "problems: none");
  lines.push(...problems);
  const ok = problems.length === 0 && outcomes.length > 0;
  const failed = outcomes.filter((o) => o.problems.length > 0).map((o) => o.row.label);
  lines.push(
    `kernel matrix: ${ok ? "OK" : "FAILED"} (${outcomes.length} kernels, ${failed.length} with problems${failed.length ? `: ${failed.join(", ")}` : ""}${seconds ? `; ${seconds}s` : ""})`,
  );
  return { text: lines.join("\n"), ok };
}

function main(argv: string[]): number {
  const [matrixPath, resultsDir, seconds] = argv;
  if (matrixPath === undefined || resultsDir === undefined) {
    console.error("usage: summary.ts MATRIX RESULTS_DIR [SECONDS]");
    return 2;
  }
  const rows = parseMatrix(readFileSync(matrixPath, "utf8"));
  const only = process.env["KIVE_KERNELS_ONLY"]?.split(/\s+/).filter(Boolean);
  const selected = only?.length ? rows.filter((r) => only.includes(r.label)) : rows;
  const outcomes = selected.map((r) => judgeRow(r, join(resultsDir, r.label)));
  const { text, ok } = render(outcomes, seconds);
  console.log(text);
  if (selected.length !== rows.length) {
    console.log(`kernel matrix: only ${selected.length} of ${rows.length} kernels selected (KIVE_KERNELS_ONLY): not a full run`);
    return 1;
  }
  return ok ? 0 : 1;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
