// The callback signing key and CA bundle, read from files at start by `kive run` and
// `kive operator` alike (in a cluster the files come from a Secret volume, see
// docs/alerts.md). A file that is missing, empty or not what it should be stops the
// start with one line (KIVE_CONFIG: exit 2), before anything is loaded into the kernel.

import { readFile } from 'node:fs/promises';
import type { CallbackOptions } from '../alerts/callback.ts';
import { KiveError } from '../errors.ts';

export interface CallbackFiles {
  /** HMAC-SHA256 key for X-Kive-Signature (--callback-secret-file). */
  secretFile?: string;
  /** PEM CA bundle for https callbacks (--callback-ca-file). */
  caFile?: string;
}

export async function readCallbackFiles(files: CallbackFiles): Promise<Pick<CallbackOptions, 'secret' | 'ca'>> {
  const out: Pick<CallbackOptions, 'secret' | 'ca'> = {};
  const fail = (flag: string, file: string, why: string) => new KiveError('KIVE_CONFIG', `--${flag} ${file}: ${why}`);
  if (files.secretFile !== undefined) {
    const file = files.secretFile;
    let key = await readFile(file).catch((err: Error) => {
      throw fail('callback-secret-file', file, err.message);
    });
    // `echo secret > file` and Secret values written with a newline: the newline is not the key.
    if (key.at(-1) === 0x0a) key = key.subarray(0, key.at(-2) === 0x0d ? -2 : -1);
    if (key.length === 0) throw fail('callback-secret-file', file, 'the file is empty');
    out.secret = key;
  }
  if (files.caFile !== undefined) {
    const file = files.caFile;
    const ca = await readFile(file, 'utf8').catch((err: Error) => {
      throw fail('callback-ca-file', file, err.message);
    });
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw fail('callback-ca-file', file, 'no PEM certificate in the file');
    out.ca = ca;
  }
  return out;
}
