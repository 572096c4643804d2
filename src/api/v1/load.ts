// Reads KivePolicy objects from a YAML file for `kive run`. Every problem becomes one
// KiveError line naming the file and the field; nothing is half-loaded.
//
// The file is untrusted input that must fail fast, never hang or exhaust memory: it must
// be a regular file (opened non-blocking, so a FIFO cannot stall the open, then checked
// with fstat on that same descriptor), at most MAX_POLICY_BYTES long (read no further
// than that, whatever the size claims), and YAML aliases may expand only so far (an
// alias bomb is refused before it grows).

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { KiveError } from '../../errors.ts';
import { API_VERSION, type KivePolicy } from './types.ts';
import { validatePolicySpec } from './validate.ts';
import { kubectlPlainScalar } from './yaml-kubectl.ts';

/** Far above any real policy file (10,000 traps with metadata fit in 2 MiB). */
export const MAX_POLICY_BYTES = 4 * 1024 * 1024;
/** Alias nodes one document may expand (the yaml library's own safeguard). */
const MAX_ALIAS_COUNT = 100;

const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

function invalid(file: string, problem: string): KiveError {
  return new KiveError('KIVE_INVALID_POLICY', `${file}: ${problem}`);
}

/** Parses and validates every KivePolicy document in `text`. Throws KIVE_INVALID_POLICY. */
export function parsePolicies(text: string, file: string): KivePolicy[] {
  // Plain scalars as kubectl reads them (yaml-kubectl.ts), so a file means the same here
  // and in a cluster (`mode: 0444` is octal 292 in both, and refused in both; `e500` is a
  // string in both).
  let docs: ReturnType<typeof parseAllDocuments>;
  try {
    docs = parseAllDocuments(text, {
      version: '1.1',
      uniqueKeys: true,
      prettyErrors: true,
      customTags: (tags) => [kubectlPlainScalar, ...tags],
    });
  } catch (err) {
    throw unparsable(file, '', err);
  }
  const policies: KivePolicy[] = [];
  for (const [index, doc] of docs.entries()) {
    const where = docs.length > 1 ? `document ${index + 1}: ` : '';
    const yamlError = doc.errors[0];
    if (yamlError !== undefined) {
      const line = yamlError.linePos?.[0];
      throw invalid(file, `${line ? `line ${line.line}: ` : ''}invalid YAML: ${yamlError.message.split('\n')[0]}`);
    }
    let obj: unknown;
    try {
      obj = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      throw unparsable(file, where, err);
    }
    if (obj === null || obj === undefined) continue; // an empty document, e.g. after a trailing ---
    if (typeof obj !== 'object' || Array.isArray(obj)) throw invalid(file, `${where}expected a KivePolicy object`);
    const o = obj as Record<string, unknown>;
    if (o.apiVersion !== API_VERSION || o.kind !== 'KivePolicy') {
      throw invalid(
        file,
        `${where}expected apiVersion ${API_VERSION} and kind KivePolicy, found ${String(o.apiVersion)} ${String(o.kind)}`,
      );
    }
    const unknown = Object.keys(o).filter((k) => !TOP_LEVEL.has(k));
    if (unknown.length > 0) throw invalid(file, `${where}unknown field "${unknown[0]}"`);
    const meta = o.metadata as Record<string, unknown> | undefined;
    if (typeof meta?.name !== 'string' || meta.name === '') throw invalid(file, `${where}metadata.name is required`);
    const problems = validatePolicySpec(o.spec);
    if (problems.length > 0) throw invalid(file, `${where}${meta.name}: ${problems.join('; ')}`);
    policies.push(o as unknown as KivePolicy);
  }
  if (policies.length === 0) throw invalid(file, 'no KivePolicy found');
  return policies;
}

/** The yaml library throws (not reports) on alias bombs and on nesting deep enough to overflow the stack. */
function unparsable(file: string, where: string, err: unknown): KiveError {
  const message = (err as Error)?.message ?? String(err);
  if (/alias count/i.test(message)) {
    return invalid(file, `${where}refused: YAML aliases expand past the limit of ${MAX_ALIAS_COUNT} (an alias bomb?)`);
  }
  if (err instanceof RangeError) return invalid(file, `${where}refused: YAML nested too deeply`);
  return invalid(file, `${where}invalid YAML: ${message.split('\n')[0]}`);
}

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function cannotRead(file: string, err: unknown): KiveError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'ENXIO' ? 'not a regular file' : e.message;
  return invalid(file, `cannot read: ${why}`);
}

export async function loadPolicyFile(file: string): Promise<KivePolicy[]> {
  let fh: FileHandle;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw cannotRead(file, err);
  }
  let bytes: Buffer;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw invalid(file, `cannot read: ${kindOf(st)}, not a regular file`);
    if (st.size > MAX_POLICY_BYTES) throw invalid(file, `cannot read: ${st.size} bytes, larger than the limit of ${MAX_POLICY_BYTES}`);
    // Read one byte past the limit, so a file that grows (or under-reports its size)
    // is caught without reading it all.
    bytes = Buffer.alloc(MAX_POLICY_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await fh.read(bytes, length, bytes.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_POLICY_BYTES) throw invalid(file, `cannot read: larger than the limit of ${MAX_POLICY_BYTES} bytes`);
    }
    bytes = bytes.subarray(0, length);
  } catch (err) {
    throw err instanceof KiveError ? err : cannotRead(file, err);
  } finally {
    await fh.close();
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw invalid(file, 'cannot read: not UTF-8 text');
  }
  return parsePolicies(text, file);
}
