// `kive crds [--out DIR]`: prints the CRDs (or writes one file each into DIR).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CRD_FILES, crdYaml } from '../api/v1/crds.ts';

export function crdsCommand(outDir: string | undefined): number {
  if (outDir === undefined) {
    process.stdout.write(CRD_FILES.map(({ crd }) => crdYaml(crd)).join('---\n'));
    return 0;
  }
  for (const { file, crd } of CRD_FILES) writeFileSync(join(outDir, file), crdYaml(crd));
  return 0;
}
