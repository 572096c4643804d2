// One error base for the whole project, after undici's: every error Kive throws on
// purpose has a stable `code` that callers and tests can branch on, and a message that
// reads "what failed: cause (hint)". Messages are one line so the CLI can print them as is.

import { constants as osConstants } from 'node:os';

export type KiveErrorCode =
  | 'KIVE_NOT_ROOT'
  | 'KIVE_NO_BTF'
  | 'KIVE_BACKEND_UNSUPPORTED'
  | 'KIVE_PROGRAM_REJECTED'
  | 'KIVE_ATTACH_FAILED'
  | 'KIVE_LIBBPF'
  | 'KIVE_BPF_OBJECT_MISSING'
  | 'KIVE_MAP_FULL'
  | 'KIVE_CLOSED'
  | 'KIVE_INVALID_POLICY'
  | 'KIVE_UNSAFE_PATH'
  | 'KIVE_PATH_NOT_FOUND'
  | 'KIVE_RUNTIME'
  | 'KIVE_CONTAINER_NOT_FOUND'
  | 'KIVE_USAGE'
  // The environment the user set up is wrong (kubeconfig, namespace, permissions): the
  // CLI prints one line and exits 2, as for bad usage, without the usage hint.
  | 'KIVE_CONFIG'
  // src/k8s: a Kubernetes API call failed (status, reason on the error); a reconcile
  // hit a user error that retrying cannot fix; a wait gave up.
  | 'KIVE_K8S_API'
  | 'KIVE_TERMINAL'
  | 'KIVE_TIMEOUT';

export class KiveError extends Error {
  readonly code: KiveErrorCode;

  constructor(code: KiveErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KiveError';
    this.code = code;
  }
}

const VERIFIER_STATS = /^(processed \d+ insns|verification time|stack depth|mark_read)/;

/** The kernel's verifier refused a program. `log` holds the verifier's own lines. */
export class VerifierError extends KiveError {
  readonly program: string;
  readonly log: readonly string[];

  constructor(program: string, errno: number, log: readonly string[]) {
    // The verdict is the last line before the verifier's closing statistics
    // ("processed N insns ...", and on some kernels "verification time", "stack
    // depth"); keep the message short and leave the full log on the object.
    const verdict = [...log].reverse().find((l) => l.trim() !== '' && !VERIFIER_STATS.test(l.trim())) ?? `errno ${errno}`;
    super('KIVE_PROGRAM_REJECTED', `load program ${program}: rejected by the verifier: ${verdict.trim()}`);
    this.name = 'VerifierError';
    this.program = program;
    this.log = log;
  }
}

/** True for any error carrying one of Kive's codes, optionally a given one. */
export function isKiveError(err: unknown, code?: KiveErrorCode): err is KiveError {
  return err instanceof KiveError && (code === undefined || err.code === code);
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, value]) => [value, name] as const));

/** "ENOENT" for 2 (or -2: libbpf returns -errno); "errno N" for a number Node does not name. */
export function errnoName(errno: number): string {
  return errnoNames.get(Math.abs(errno)) ?? `errno ${Math.abs(errno)}`;
}
