// The identity of the running kernel instance. An inode number means something only on
// the kernel that handed it out, so every KiveData names the kernel it was discovered on
// and only that kernel's loader arms it (docs/design.md; docs/controllers.md).
// The boot id is random per boot and shared by every container and node (VM or host)
// that runs on the same kernel, which is exactly the scope we need.

import { readFile } from 'node:fs/promises';
import { KiveError } from '../errors.ts';

export const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';

// The kernel prints a UUID in the canonical 8-4-4-4-12 lowercase form.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Validate and normalise the text of a boot_id file. Throws KIVE_RUNTIME if it is not a UUID. */
export function parseBootId(text: string, source = BOOT_ID_PATH): string {
  const id = text.trim().toLowerCase();
  if (!UUID.test(id)) {
    throw new KiveError('KIVE_RUNTIME', `read kernel id from ${source}: not a UUID: ${JSON.stringify(text.slice(0, 64))}`);
  }
  return id;
}

/**
 * The id of the running kernel: the content of /proc/sys/kernel/random/boot_id.
 * `path` is for tests. Throws KIVE_RUNTIME when the file cannot be read or is malformed.
 */
export async function readKernelId(path: string = BOOT_ID_PATH): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new KiveError('KIVE_RUNTIME', `read kernel id from ${path}: ${code} (is /proc mounted?)`, { cause: err });
  }
  return parseBootId(text, path);
}
