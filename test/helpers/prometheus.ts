// Parses Prometheus text exposition with a real parser (Debian's python3-prometheus-client,
// scripts/install-deps.sh), so tests check what a Prometheus server would read.
import { execFileSync } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": s.value})
json.dump(out, sys.stdout)
`;

/** Every sample; throws when the text does not parse. */
export function parsePrometheus(text: string): Array<Sample & { family: string; type: string }> {
  // The system interpreter: the Debian package installs for it, not for a user's pyenv.
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', PARSE], { input: text, encoding: 'utf8' }));
}

export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
