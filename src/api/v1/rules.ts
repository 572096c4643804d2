// Validation rules that a structural OpenAPI schema cannot say. Each rule exists once,
// here, in two forms: the CEL expression the API server evaluates
// (x-kubernetes-validations in the CRD) and its TypeScript twin that `kive run` uses on
// a policy file. The integration tests feed the same bad policies to both and expect
// both to refuse them, so the two forms cannot drift apart unnoticed.

import { RE2JS } from 're2js';
import { isIP } from 'node:net';

export interface Rule {
  /** CEL, evaluated by the API server with `self` bound to the field. */
  readonly rule: string;
  readonly message: string;
  /** The same rule for `kive run`: true when `value` is acceptable. */
  readonly check: (value: unknown) => boolean;
}

const CONTAINER_REGEX = 'regex:';
const CONTAINER_GLOB = 'glob:';

/** Compiles a containerName `regex:` pattern with RE2, the dialect CEL's matches() uses. */
export function compileContainerRegex(pattern: string): RE2JS {
  return RE2JS.compile(pattern);
}

function isValidRe2(pattern: string): boolean {
  try {
    compileContainerRegex(pattern);
    return true;
  } catch {
    return false;
  }
}

// A CEL single-quoted string literal: backslashes and quotes escaped, nothing else.
const celString = (p: string) => `'${p.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * A rule that is one RE2 regular expression, evaluated by CEL's matches() on the API
 * server and by RE2JS here: the same dialect, so the two forms agree by construction.
 * `must: false` refuses the values that match.
 */
function re2Rule(pattern: string, message: string, must = true): Rule {
  const re = RE2JS.compile(pattern);
  return {
    rule: `${must ? '' : '!'}self.matches(${celString(pattern)})`,
    message,
    check: (v) => typeof v === 'string' && re.matcher(v).find() === must,
  };
}

// Paths: one canonical absolute form, so that a trap names one file and the message
// says which rule a path breaks. A directory, "/" itself, or anything under /proc (where
// a trap would follow another process's files through magic links) can never be a trap.
export const absolutePath = re2Rule('^/', 'path must be absolute (start with /)');
export const noDotDot = re2Rule('/\\.\\.(/|$)', "path must not contain a '..' segment", false);
export const canonicalPath = re2Rule('//|/\\.(/|$)', "path must be in canonical form (no '//' and no '.' segment)", false);
export const noTrailingSlash = re2Rule('[^/]$', 'path must name a file: no trailing / and not / itself');
export const noControlChars = re2Rule('[\\x00-\\x1f\\x7f]', 'path must not contain a newline, NUL or another control character', false);
export const notUnderProc = re2Rule('^/proc(/|$)', 'path must not be under /proc', false);

export const octalMode: Rule = {
  // The original API writes modes as octal digits (444 is r--r--r--), so 8 and 9 are errors.
  // Arithmetic rather than string(self).matches(): the cost estimator cannot bound the
  // length of string(int) and refuses the rule. With 0 <= self <= 777 from the schema,
  // this says "every decimal digit is 0-7".
  rule: 'self % 10 <= 7 && (self / 10) % 10 <= 7 && (self / 100) % 10 <= 7',
  message: 'mode must be written as octal digits, e.g. 444 or 640 (no leading 0, no 8 or 9)',
  check: (v) => typeof v === 'number' && /^[0-7]{1,3}$/.test(String(v)),
};

// Callback URLs as regular expressions rather than CEL's url(), which is Go's parser:
// Node's WHATWG parser disagrees with it (ports above 65535, "http:/host"), and a twin
// must not. The authority is what follows "//" up to the first / ? or #.
const AUTHORITY = '^https?://[^/?#]*';
const HOST = '(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)';
const PORT = '([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';
export const callbackScheme = re2Rule('^https?://', 'callback must be an http:// or https:// URL');
export const callbackNoCredentials = re2Rule(`${AUTHORITY}@`, 'callback must not contain credentials (user:password@)', false);
export const callbackNoSpaces = re2Rule('[\\x00-\\x20\\x7f]', 'callback must not contain spaces or control characters', false);
export const callbackHost = re2Rule(
  `^https?://([^/?#@]*@)?${HOST}(:[0-9]*)?([/?#]|$)`,
  'callback must be http(s)://host[:port][/path], the host a name or an IP address',
);
// If the authority ends in ":digits", they must be 1-65535 without leading zeros:
// "host:" and port 0 can never be dialled.
const HAS_PORT = '^https?://[^/?#]*:[0-9]*([/?#]|$)';
const GOOD_PORT = `^https?://[^/?#]*:${PORT}([/?#]|$)`;
const hasPortRe = RE2JS.compile(HAS_PORT);
const goodPortRe = RE2JS.compile(GOOD_PORT);
export const callbackPort: Rule = {
  rule: `!self.matches(${celString(HAS_PORT)}) || self.matches(${celString(GOOD_PORT)})`,
  message: 'callback port must be 1-65535',
  check: (v) => typeof v === 'string' && (!hasPortRe.matcher(v).find() || goodPortRe.matcher(v).find()),
};

export const ipAddress: Rule = {
  // CEL's isIP is Go's netip.ParseAddr without zones and without IPv4-mapped IPv6
  // (::ffff:a.b.c.d); Node's isIP accepts both, so the twin refuses them itself. The
  // WHATWG URL parser writes any IPv6 address in one canonical form, where a mapped
  // address always reads ::ffff:x:y.
  rule: 'isIP(self)',
  message: 'ip must be an IPv4 or IPv6 address (no zone, not IPv4-mapped)',
  check: (v) => {
    if (typeof v !== 'string' || v.includes('%')) return false;
    const family = isIP(v);
    if (family === 4) return true;
    if (family !== 6) return false;
    return !/^\[::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}\]$/.test(new URL(`http://[${v}]/`).hostname);
  },
};

// Kubernetes names and labels, with the expressions of k8s.io/apimachinery's
// validation package (IsDNS1123Subdomain, IsDNS1123Label, IsQualifiedName,
// IsValidLabelValue), so a selector that can never match a real object is refused.
const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const QUALIFIED_NAME_PART = '([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]';
export const podName = re2Rule(`^${DNS1123_SUBDOMAIN}$`, 'pod must be a valid pod name (lowercase RFC 1123 subdomain: a-z, 0-9, - and ., at most 253 characters)');
export const namespaceName = re2Rule(`^${DNS1123_LABEL}$`, 'namespace must be a valid namespace name (lowercase RFC 1123 label: a-z, 0-9 and -, at most 63 characters)');

const LABEL_KEY = `^(${DNS1123_SUBDOMAIN}/)?${QUALIFIED_NAME_PART}$`;
const LABEL_VALUE = `^(${QUALIFIED_NAME_PART})?$`;
const labelKeyRe = RE2JS.compile(LABEL_KEY);
const labelValueRe = RE2JS.compile(LABEL_VALUE);

export const labelKeys: Rule = {
  // The prefix's 253-character limit is the key's size bound: a name part is at most 63.
  rule: `self.all(k, k.size() <= 317 && k.matches(${celString(LABEL_KEY)}) && k.indexOf('/') <= 253)`,
  message: 'matchLabels keys must be valid label keys: [prefix/]name, name at most 63 characters of A-Z, a-z, 0-9, -, _ and . starting and ending alphanumeric; prefix a DNS subdomain',
  check: (v) =>
    typeof v === 'object' && v !== null &&
    Object.keys(v).every((k) => k.length <= 317 && labelKeyRe.matcher(k).find() && k.indexOf('/') <= 253),
};

export const labelValues: Rule = {
  rule: `self.all(k, self[k].matches(${celString(LABEL_VALUE)}))`,
  message: 'matchLabels values must be valid label values: empty, or at most 63 characters of A-Z, a-z, 0-9, -, _ and . starting and ending alphanumeric',
  check: (v) =>
    typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'string' && labelValueRe.matcher(x).find()),
};

export const containerNameForm: Rule = {
  // `regex: <RE>` must compile; `glob: <pattern>` must be non-empty; anything else is an
  // exact name. CEL's matches() raises an error on an invalid pattern and the API server
  // refuses the object with it. A ternary's condition is always evaluated, so the error
  // surfaces (`||` would absorb it: in CEL, `true || error` is true).
  rule:
    "self.startsWith('regex:') ? (self.substring(6).trim() != '' && (''.matches(self.substring(6).trim()) ? true : true)) : (self.startsWith('glob:') ? self.substring(5).trim() != '' : self != '')",
  message: "containerName must be an exact name, 'regex: <RE2 expression>' or 'glob: <pattern>'",
  check: (v) => {
    if (typeof v !== 'string') return false;
    if (v.startsWith(CONTAINER_REGEX)) {
      const re = v.slice(CONTAINER_REGEX.length).trim();
      return re !== '' && isValidRe2(re);
    }
    if (v.startsWith(CONTAINER_GLOB)) return v.slice(CONTAINER_GLOB.length).trim() !== '';
    return v !== '';
  },
};

// Container names as the API server checks them (IsDNS1123Label).
export const containerNameExact = re2Rule(`^${DNS1123_LABEL}$`, 'exclude.containers items must be container names (lowercase RFC 1123 labels: a-z, 0-9 and -, at most 63 characters)');

// The planting window opens when Kive creates the file, so without `create` it never would.
export const plantingWindowNeedsCreate: Rule = {
  rule: "!has(self.exclude) || !has(self.exclude.plantingWindowSeconds) || (has(self.create) && self.create)",
  message: 'exclude.plantingWindowSeconds needs create: true (the window opens when Kive creates the file)',
  check: (v) => {
    const t = v as { create?: unknown; exclude?: { plantingWindowSeconds?: unknown } } | null;
    return typeof t !== 'object' || t === null || t.exclude?.plantingWindowSeconds === undefined || t.create === true;
  },
};

export const metadataKeys: Rule = {
  rule: 'self.all(k, k.size() > 0 && k.size() <= 253)',
  message: 'metadata keys must be 1 to 253 characters',
  check: (v) =>
    typeof v === 'object' && v !== null && Object.keys(v).every((k) => k.length > 0 && k.length <= 253),
};

/** Every rule, by its CEL text: the validator refuses a CEL rule it has no twin for. */
export const RULES_BY_CEL: ReadonlyMap<string, Rule> = new Map(
  [
    absolutePath, noDotDot, canonicalPath, noTrailingSlash, noControlChars, notUnderProc, octalMode,
    callbackScheme, callbackNoCredentials, callbackNoSpaces, callbackHost, callbackPort, ipAddress,
    podName, namespaceName, labelKeys, labelValues, containerNameForm, metadataKeys, containerNameExact,
    plantingWindowNeedsCreate,
  ].map(
    (r) => [r.rule, r],
  ),
);
