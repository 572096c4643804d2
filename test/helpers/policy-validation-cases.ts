// The one table of KivePolicy validation cases: every input here must be accepted by
// both, or refused by both with the same message, by the real API server (through
// kubectl, test/integration/policy-validation.test.ts) and by `kive run`'s loader.
import * as rules from '../../src/api/v1/rules.ts';

export interface ValidationCase {
  name: string;
  /** The trap, as YAML lines of one `traps:` item (nested lines indented by two). */
  trap: string[];
  /** Absent: valid. Otherwise a pattern both refusals must match. */
  refuse?: RegExp;
  /** The CEL rule that refuses it, when one does. */
  rule?: rules.Rule;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Refused by one CEL rule: "<field>: ...<the rule's message>" on both sides. */
const by = (field: string, rule: rules.Rule) => ({ rule, refuse: new RegExp(`${esc(field)}: .*${esc(rule.message)}`) });
const path = 'spec.traps[0].path';
const callback = 'spec.traps[0].callback';
const match = 'spec.traps[0].matchAny[0]';
const withMatch = (...lines: string[]) => ['path: /secret.txt', 'matchAny:', `  - ${lines[0]}`, ...lines.slice(1).map((l) => `    ${l}`)];
const cb = (url: string) => ['path: /secret.txt', `callback: ${quoted(url)}`];
// A YAML double-quoted scalar: JSON's escapes are YAML's, but DEL must be escaped too
// (it is not printable, so a raw one makes the file invalid YAML).
const quoted = (v: string) => JSON.stringify(v).replace(/\u007f/g, '\\x7f');
const p = (value: string) => [`path: ${quoted(value)}`];

export const VALIDATION_CASES: ValidationCase[] = [
  // Paths: one canonical absolute form, naming a file, outside /proc.
  { name: 'plain path', trap: p('/secret.txt') },
  { name: 'nested path with dots in names', trap: p('/a..b/.hidden/c.d') },
  { name: 'space in a name', trap: p('/data/my secret.txt') },
  { name: 'a name that starts with proc', trap: p('/procfs/x') },
  { name: 'relative path', trap: p('secret.txt'), ...by(path, rules.absolutePath) },
  { name: 'the root itself', trap: p('/'), ...by(path, rules.noTrailingSlash) },
  { name: 'trailing slash', trap: p('/data/'), ...by(path, rules.noTrailingSlash) },
  { name: 'double slash', trap: p('/data//x'), ...by(path, rules.canonicalPath) },
  { name: '. segment', trap: p('/data/./x'), ...by(path, rules.canonicalPath) },
  { name: 'final . segment', trap: p('/data/.'), ...by(path, rules.canonicalPath) },
  { name: '.. segment', trap: p('/data/../etc/shadow'), ...by(path, rules.noDotDot) },
  { name: 'final .. segment', trap: p('/data/..'), ...by(path, rules.noDotDot) },
  { name: 'trailing newline', trap: p('/secret.txt\n'), ...by(path, rules.noControlChars) },
  { name: 'tab', trap: p('/se\tcret.txt'), ...by(path, rules.noControlChars) },
  { name: 'DEL character', trap: p('/secret\u007f'), ...by(path, rules.noControlChars) },
  { name: 'under /proc', trap: p('/proc/1/root/etc/shadow'), ...by(path, rules.notUnderProc) },
  { name: '/proc itself', trap: p('/proc'), ...by(path, rules.notUnderProc) },

  // Callbacks: http(s), a host, a port that can be dialled, no credentials.
  { name: 'http callback', trap: cb('http://collector/alerts') },
  { name: 'https with port, query and fragment', trap: cb('https://collector.example.com:8443/a/b?x=1#f') },
  { name: 'IPv4 host and the highest port', trap: cb('http://10.0.0.1:65535') },
  { name: 'IPv6 host with port', trap: cb('http://[fd00::1]:9000/') },
  { name: 'cluster service name', trap: cb('http://my-svc.my-ns.svc.cluster.local/alerts') },
  { name: 'port 99999', trap: cb('http://collector:99999/alerts'), ...by(callback, rules.callbackPort) },
  { name: 'port 0', trap: cb('http://collector:0/alerts'), ...by(callback, rules.callbackPort) },
  { name: 'port with a leading zero', trap: cb('http://collector:080/'), ...by(callback, rules.callbackPort) },
  { name: 'empty port', trap: cb('http://collector:/alerts'), ...by(callback, rules.callbackPort) },
  { name: 'credentials', trap: cb('http://user:pass@collector/alerts'), ...by(callback, rules.callbackNoCredentials) },
  { name: 'user only', trap: cb('https://token@collector/'), ...by(callback, rules.callbackNoCredentials) },
  { name: 'ftp scheme', trap: cb('ftp://collector/alerts'), ...by(callback, rules.callbackScheme) },
  { name: 'upper-case scheme', trap: cb('HTTP://collector/'), ...by(callback, rules.callbackScheme) },
  { name: 'one slash', trap: cb('http:/collector/alerts'), ...by(callback, rules.callbackScheme) },
  { name: 'no host', trap: cb('http:///alerts'), ...by(callback, rules.callbackHost) },
  { name: 'space in the host', trap: cb('http://coll ector/'), ...by(callback, rules.callbackNoSpaces) },
  { name: 'non-numeric port', trap: cb('http://collector:http/'), ...by(callback, rules.callbackHost) },

  // ip: what CEL's isIP accepts, nothing more.
  { name: 'IPv4', trap: withMatch('ip: 10.1.2.3') },
  { name: 'IPv6', trap: withMatch('ip: "2001:db8::1"') },
  { name: 'IPv6 link-local', trap: withMatch('ip: "fe80::1"') },
  { name: 'IPv4-mapped IPv6', trap: withMatch('ip: "::ffff:10.1.2.3"'), ...by(`${match}.ip`, rules.ipAddress) },
  { name: 'IPv4-mapped IPv6, hex form', trap: withMatch('ip: "::ffff:a01:203"'), ...by(`${match}.ip`, rules.ipAddress) },
  { name: 'IPv6 with a zone', trap: withMatch('ip: "fe80::1%eth0"'), ...by(`${match}.ip`, rules.ipAddress) },
  { name: 'IPv4 octet above 255', trap: withMatch('ip: 10.0.0.300'), ...by(`${match}.ip`, rules.ipAddress) },
  { name: 'IPv4 with a leading zero', trap: withMatch('ip: 010.0.0.1'), ...by(`${match}.ip`, rules.ipAddress) },

  // Kubernetes names and labels, as apimachinery checks them.
  { name: 'pod name', trap: withMatch('pod: web-1.a') },
  { name: 'namespace name', trap: withMatch('namespace: kube-system') },
  { name: 'upper-case pod name', trap: withMatch('pod: Web-1'), ...by(`${match}.pod`, rules.podName) },
  { name: 'underscore in a pod name', trap: withMatch('pod: web_1'), ...by(`${match}.pod`, rules.podName) },
  { name: 'pod name ending in -', trap: withMatch('pod: web-'), ...by(`${match}.pod`, rules.podName) },
  { name: 'dot in a namespace name', trap: withMatch('namespace: team.a'), ...by(`${match}.namespace`, rules.namespaceName) },
  { name: 'upper-case namespace name', trap: withMatch('namespace: Default'), ...by(`${match}.namespace`, rules.namespaceName) },
  { name: 'label keys and values', trap: withMatch('matchLabels:', '  app.kubernetes.io/name: web', '  tier: ""', '  Version_2: v1.2_3-x') },
  { name: 'label key with a space', trap: withMatch('matchLabels:', '  "bad key": x'), ...by(`${match}.matchLabels`, rules.labelKeys) },
  { name: 'label key starting with -', trap: withMatch('matchLabels:', '  -app: x'), ...by(`${match}.matchLabels`, rules.labelKeys) },
  { name: 'label key with two slashes', trap: withMatch('matchLabels:', '  a/b/c: x'), ...by(`${match}.matchLabels`, rules.labelKeys) },
  { name: 'label key with an empty prefix', trap: withMatch('matchLabels:', '  /app: x'), ...by(`${match}.matchLabels`, rules.labelKeys) },
  { name: 'label key with an upper-case prefix', trap: withMatch('matchLabels:', '  Example.com/app: x'), ...by(`${match}.matchLabels`, rules.labelKeys) },
  { name: 'label key name of 64 characters', trap: withMatch('matchLabels:', `  ${'a'.repeat(64)}: x`), ...by(`${match}.matchLabels`, rules.labelKeys) },
  { name: 'label key with a 253-character prefix', trap: withMatch('matchLabels:', `  ${'a'.repeat(253)}/x: v`) },
  { name: 'label key with a 254-character prefix', trap: withMatch('matchLabels:', `  ${'a'.repeat(254)}/x: v`), ...by(`${match}.matchLabels`, rules.labelKeys) },
  { name: 'label value with a space', trap: withMatch('matchLabels:', '  app: "a b"'), ...by(`${match}.matchLabels`, rules.labelValues) },
  { name: 'label value ending in .', trap: withMatch('matchLabels:', '  app: v1.'), ...by(`${match}.matchLabels`, rules.labelValues) },

  // Plain YAML scalars mean what kubectl makes of them.
  { name: 'metadata value e500 (a string for kubectl)', trap: ['path: /secret.txt', 'metadata:', '  k: e500'] },
  { name: 'metadata value 1e500 (out of range: a string)', trap: ['path: /secret.txt', 'metadata:', '  k: 1e500'] },
  { name: 'metadata value 1:20 (no sexagesimal)', trap: ['path: /secret.txt', 'metadata:', '  k: 1:20'] },
  { name: 'metadata value 1e5 (a number)', trap: ['path: /secret.txt', 'metadata:', '  k: 1e5'], refuse: /spec\.traps\[0\]\.metadata\.k: .*must be (of type )?string/ },
  { name: 'metadata value 0o17 (an int)', trap: ['path: /secret.txt', 'metadata:', '  k: 0o17'], refuse: /spec\.traps\[0\]\.metadata\.k: .*must be (of type )?string/ },
  { name: 'metadata value yes (a bool)', trap: ['path: /secret.txt', 'metadata:', '  k: yes'], refuse: /spec\.traps\[0\]\.metadata\.k: .*must be (of type )?(string|boolean)/ },
  { name: 'mode 0444 (octal 292 for kubectl)', trap: ['path: /secret.txt', 'mode: 0444'], ...by('spec.traps[0].mode', rules.octalMode) },
  { name: 'mode 444', trap: ['path: /secret.txt', 'create: true', 'mode: 444'] },

  // Exclusions (a Kive extension): binaries as canonical paths, container names as Kubernetes names.
  { name: 'every exclusion', trap: ['path: /secret.txt', 'create: true', 'exclude:', '  binaries: [/usr/bin/koney-verify]', '  containers: [koney-agent]', '  plantingWindowSeconds: 30'] },
  { name: 'excluded binary not absolute', trap: ['path: /secret.txt', 'exclude:', '  binaries: [cat]'], ...by('spec.traps[0].exclude.binaries[0]', rules.absolutePath) },
  { name: 'excluded binary with a newline', trap: ['path: /secret.txt', 'exclude:', '  binaries: ["/bin/cat\\n"]'], ...by('spec.traps[0].exclude.binaries[0]', rules.noControlChars) },
  { name: 'excluded binary with ..', trap: ['path: /secret.txt', 'exclude:', '  binaries: [/usr/../bin/cat]'], ...by('spec.traps[0].exclude.binaries[0]', rules.noDotDot) },
  { name: 'excluded container not a name', trap: ['path: /secret.txt', 'exclude:', '  containers: [Koney_Agent]'], ...by('spec.traps[0].exclude.containers[0]', rules.containerNameExact) },
  { name: 'planting window without create', trap: ['path: /secret.txt', 'exclude:', '  plantingWindowSeconds: 30'], ...by('spec.traps[0]', rules.plantingWindowNeedsCreate) },
  { name: 'planting window over 600 s', trap: ['path: /secret.txt', 'create: true', 'exclude:', '  plantingWindowSeconds: 601'], refuse: /spec\.traps\[0\]\.exclude\.plantingWindowSeconds: .*(less than or equal to 600|must be <= 600)/ },
];

/** The KivePolicy YAML of case number `i`, as a user would write it. */
export function caseYaml(c: ValidationCase, i: number): string {
  const [first, ...rest] = c.trap;
  return [
    'apiVersion: kivebpf.san7o.github.io/v1',
    'kind: KivePolicy',
    'metadata:',
    `  name: case-${i}`,
    '  namespace: default',
    'spec:',
    '  traps:',
    `    - ${first}`,
    ...rest.map((l) => `      ${l}`),
    '',
  ].join('\n');
}
