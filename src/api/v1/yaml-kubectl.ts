// Plain YAML scalars read the way kubectl reads them, so that a policy file means the
// same in `kive run` as in `kubectl apply`. kubectl converts YAML to JSON with
// sigs.k8s.io/yaml, whose resolver (go-yaml v2) is neither YAML 1.1 nor 1.2: `e500` and
// `1e500` stay strings there, while the `yaml` package's 1.1 schema reads them as
// numbers (`must be string` in kive run, accepted by the API server). This tag
// replaces the 1.1 resolution of every plain scalar (quoted ones are always strings)
// with go-yaml v2's rules (resolve.go there), returning the value kubectl would send.

import type { ScalarTag } from 'yaml';

const BOOL_NULL = new Map<string, boolean | null | number>([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON', 'true', 'True', 'TRUE'].map((k) => [k, true] as const),
  ...['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF', 'false', 'False', 'FALSE'].map((k) => [k, false] as const),
  ...['', '~', 'null', 'Null', 'NULL'].map((k) => [k, null] as const),
  // Infinities and NaN resolve to floats there, which JSON cannot carry: kubectl fails on
  // them, and as numbers here they fail validation the same way a number does.
  ...['.nan', '.NaN', '.NAN'].map((k) => [k, Number.NaN] as const),
  ...['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF'].map((k) => [k, Number.POSITIVE_INFINITY] as const),
  ...['-.inf', '-.Inf', '-.INF'].map((k) => [k, Number.NEGATIVE_INFINITY] as const),
]);

// Go's strconv.ParseInt(s, 0, 64) syntax: sign, then 0x / 0o / 0b / leading-0 octal / decimal.
const GO_INT = /^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/;
// go-yaml v2's yamlStyleFloat.
const GO_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const DATE_ONLY = /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$/;

function goInt(s: string): number | bigint | undefined {
  if (!GO_INT.test(s)) return undefined;
  const neg = s.startsWith('-');
  const body = s.replace(/^[-+]/, '');
  const digits = /^0[0-7]+$/.test(body) ? `0o${body.slice(1)}` : body.replace(/^0([xXoObB])/, (_m, p: string) => `0${p.toLowerCase()}`);
  const n = BigInt(digits) * (neg ? -1n : 1n);
  // int64, then uint64 (ParseUint), as go-yaml tries them; beyond: not an int.
  if (n < -(2n ** 63n) || n >= 2n ** 64n) return undefined;
  return Number.isSafeInteger(Number(n)) ? Number(n) : n;
}

/** What go-yaml v2 resolves the plain scalar `s` to, as the JSON kubectl sends has it. */
export function resolvePlainLikeKubectl(s: string): unknown {
  if (BOOL_NULL.has(s)) return BOOL_NULL.get(s);
  const c = s[0] ?? '';
  if (c === '.') {
    const f = Number(s);
    return /^\.[0-9]+(?:[eE][-+]?[0-9]+)?$/.test(s) && Number.isFinite(f) ? f : s;
  }
  if (!/[-+0-9]/.test(c)) return s;
  const date = DATE_ONLY.exec(s);
  if (date !== null) {
    // A timestamp: kubectl sends it as RFC 3339 (time.Time's JSON form).
    const [y, m, d] = [Number(date[1]), Number(date[2]), Number(date[3])];
    const t = new Date(Date.UTC(y, m - 1, d));
    if (t.getUTCMonth() === m - 1 && t.getUTCDate() === d) return `${date[1]}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}T00:00:00Z`;
  }
  const plain = s.replace(/_/g, '');
  const i = goInt(plain);
  if (i !== undefined) return i;
  if (GO_FLOAT.test(plain)) {
    const f = Number(plain);
    if (Number.isFinite(f)) return f; // ParseFloat's range error (1e500) leaves a string
  }
  const bin = /^(-?)0b([01]+)$/.exec(plain);
  if (bin !== null) return Number(BigInt(`0b${bin[2]}`)) * (bin[1] === '-' ? -1 : 1);
  return s;
}

/** Put first in the schema's tags: it answers for every plain scalar. */
export const kubectlPlainScalar: ScalarTag = {
  // Its own name: an explicit !!str or !!int must keep meaning what it says.
  tag: 'tag:kive.invalid,2026:kubectl-plain',
  default: true,
  test: /^[\s\S]*$/,
  identify: () => false, // only for reading; stringify keeps the normal tags
  resolve: (s: string) => resolvePlainLikeKubectl(s) as string,
};
