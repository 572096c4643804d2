// `make docs`: rewrites the generated parts of docs/*.md from the code they describe.
// Unit tests fail when a page is stale, so run this after changing a backend spec.
import { readFileSync, writeFileSync } from 'node:fs';
import { cliReference } from '../src/cli/flags.ts';
import { withBackendTables } from '../src/kernel/backends/docs.ts';

const pages: Array<[string, (page: string) => string]> = [
  ['docs/backends.md', withBackendTables],
  ['docs/cli.md', () => cliReference()],
];

for (const [file, render] of pages) {
  let before = '';
  try {
    before = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const after = render(before);
  if (after !== before) writeFileSync(file, after);
  process.stdout.write(`${file}: ${after === before ? 'current' : 'updated'}\n`);
}
