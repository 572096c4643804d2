// Kive's version, read from its package.json so there is one place to bump it. The file
// sits two directories up when run from source (src/cli/) and three when compiled
// (dist/src/cli/); the first package.json named "kive" wins.

import { readFileSync } from 'node:fs';

export function kiveVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    let pkg: { name?: unknown; version?: unknown };
    try {
      pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8'));
    } catch {
      continue;
    }
    if (pkg.name === 'kive' && typeof pkg.version === 'string') return pkg.version;
  }
  throw new Error('kive: package.json not found next to the program (a broken install?)');
}
