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

export const absolutePath: Rule = {
  rule: "self.startsWith('/')",
  message: 'path must be absolute (start with /)',
  check: (v) => typeof v === 'string' && v.startsWith('/'),
};

export const noDotDot: Rule = {
  // For an absolute path (another rule), a '..' segment is "/../" or a final "/..".
  // contains() keeps the API server's cost estimate low; split().exists() exceeded it.
  rule: "!self.contains('/../') && !self.endsWith('/..')",
  message: "path must not contain a '..' segment",
  check: (v) => typeof v === 'string' && !v.includes('/../') && !v.endsWith('/..'),
};

export const noNul: Rule = {
  rule: "!self.contains('\\u0000')",
  message: 'path must not contain a NUL character',
  check: (v) => typeof v === 'string' && !v.includes('\0'),
};

export const octalMode: Rule = {
  // The design writes modes as octal digits (444 is r--r--r--), so 8 and 9 are errors.
  // Arithmetic rather than string(self).matches(): the cost estimator cannot bound the
  // length of string(int) and refuses the rule. With 0 <= self <= 777 from the schema,
  // this says "every decimal digit is 0-7".
  rule: 'self % 10 <= 7 && (self / 10) % 10 <= 7 && (self / 100) % 10 <= 7',
  message: 'mode must be written as octal digits, e.g. 444 or 640 (no leading 0, no 8 or 9)',
  check: (v) => typeof v === 'number' && /^[0-7]{1,3}$/.test(String(v)),
};

export const httpUrl: Rule = {
  rule: "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHost() != ''",
  message: 'callback must be an http:// or https:// URL with a host',
  check: (v) => {
    if (typeof v !== 'string') return false;
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '';
    } catch {
      return false;
    }
  },
};

export const ipAddress: Rule = {
  rule: 'isIP(self)',
  message: 'ip must be an IPv4 or IPv6 address',
  check: (v) => typeof v === 'string' && isIP(v) !== 0,
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

export const metadataKeys: Rule = {
  rule: 'self.all(k, k.size() > 0 && k.size() <= 253)',
  message: 'metadata keys must be 1 to 253 characters',
  check: (v) =>
    typeof v === 'object' && v !== null && Object.keys(v).every((k) => k.length > 0 && k.length <= 253),
};

/** Every rule, by its CEL text: the validator refuses a CEL rule it has no twin for. */
export const RULES_BY_CEL: ReadonlyMap<string, Rule> = new Map(
  [absolutePath, noDotDot, noNul, octalMode, httpUrl, ipAddress, containerNameForm, metadataKeys].map(
    (r) => [r.rule, r],
  ),
);
