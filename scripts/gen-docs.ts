// `make docs`: rewrites the generated parts of docs/*.md from the code they describe.
// Unit tests fail when a page is stale, so run this after changing a backend spec.
import { readFileSync, writeFileSync } from 'node:fs';
import { withBackendTables } from '../src/kernel/backends/docs.ts';

const pages: Array<[string, (page: string) => string]> = [['docs/backends.md', withBackendTables]];

for (const [file, render] of pages) {
  const before = readFileSync(file, 'utf8');
  const after = render(before);
  if (after !== before) writeFileSync(file, after);
  process.stdout.write(`${file}: ${after === before ? 'current' : 'updated'}\n`);
}
