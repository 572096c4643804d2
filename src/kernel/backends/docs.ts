// docs/backends.md's tables, rendered from the registry so the page cannot drift from
// the code: `make docs` writes them between the page's markers, and a unit test
// (test/unit/kernel-backends.test.ts) fails when the page is not current.

import { BACKENDS } from './index.ts';
import { ACCESSES, type Access, type Seen } from './spec.ts';

export const TABLE_BEGIN = '<!-- generated from src/kernel/backends/ by `make docs`: begin -->';
export const TABLE_END = '<!-- generated: end -->';

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function seen(s: Seen): string {
  if (s === true) return 'yes';
  if (s === false) return '—';
  return `yes (${s})`;
}

/** The backends table and the "what each sees" table, as Markdown. */
export function backendTables(): string {
  const lines = [
    row(['backend', 'hook', 'kernel needs', '`op` in events']),
    row(['---', '---', '---', '---']),
    ...BACKENDS.map((b) => row([b.name, b.hook, b.requires, b.ops.map((o) => `\`${o}\``).join(', ')])),
    '',
    row(['access to a trapped file', ...BACKENDS.map((b) => b.name)]),
    row(['---', ...BACKENDS.map(() => '---')]),
    ...(Object.keys(ACCESSES) as Access[]).map((a) => row([ACCESSES[a], ...BACKENDS.map((b) => seen(b.sees[a]))])),
  ];
  return lines.join('\n');
}

/** `page` with the text between its markers replaced by the current tables. */
export function withBackendTables(page: string): string {
  const begin = page.indexOf(TABLE_BEGIN);
  const end = page.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error(`docs/backends.md: markers ${TABLE_BEGIN} ... ${TABLE_END} not found`);
  return `${page.slice(0, begin + TABLE_BEGIN.length)}\n${backendTables()}\n${page.slice(end)}`;
}
