// Writes the generated files under deploy/ (scripts/deploy/files.ts). `make deploy`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { deployFiles } from './deploy/files.ts';

const root = new URL('../', import.meta.url);
for (const [path, content] of deployFiles()) {
  const file = new URL(path, root);
  mkdirSync(dirname(file.pathname), { recursive: true });
  writeFileSync(file, content);
}
