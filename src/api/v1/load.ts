// Reads KivePolicy objects from a YAML file for `kive run`. Every problem becomes one
// KiveError line naming the file and the field; nothing is half-loaded.

import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { KiveError } from '../../errors.ts';
import { API_VERSION, type KivePolicy } from './types.ts';
import { validatePolicySpec } from './validate.ts';
import { kubectlPlainScalar } from './yaml-kubectl.ts';

const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

function invalid(file: string, problem: string): KiveError {
  return new KiveError('KIVE_INVALID_POLICY', `${file}: ${problem}`);
}

/** Parses and validates every KivePolicy document in `text`. Throws KIVE_INVALID_POLICY. */
export function parsePolicies(text: string, file: string): KivePolicy[] {
  // Plain scalars as kubectl reads them (yaml-kubectl.ts), so a file means the same here
  // and in a cluster (`mode: 0444` is octal 292 in both, and refused in both; `e500` is a
  // string in both).
  const docs = parseAllDocuments(text, {
    version: '1.1',
    uniqueKeys: true,
    prettyErrors: true,
    customTags: (tags) => [kubectlPlainScalar, ...tags],
  });
  const policies: KivePolicy[] = [];
  for (const [index, doc] of docs.entries()) {
    const where = docs.length > 1 ? `document ${index + 1}: ` : '';
    const yamlError = doc.errors[0];
    if (yamlError !== undefined) {
      const line = yamlError.linePos?.[0];
      throw invalid(file, `${line ? `line ${line.line}: ` : ''}invalid YAML: ${yamlError.message.split('\n')[0]}`);
    }
    const obj: unknown = doc.toJS({ maxAliasCount: 100 });
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

export async function loadPolicyFile(file: string): Promise<KivePolicy[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw invalid(file, `cannot read: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message}`);
  }
  return parsePolicies(text, file);
}
