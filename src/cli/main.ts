// The `kive` command line. Each subcommand is a function returning an exit code; this
// file only parses arguments and turns errors into one clear line on stderr.

import { parseArgs } from 'node:util';
import { isKiveError, KiveError, VerifierError } from '../errors.ts';
import { BACKEND_CHOICES, parseBackendChoice } from '../kernel/backends/index.ts';
import { createLogger } from '../log.ts';

const USAGE = `usage: kive <command> [options]

commands:
  run --policy FILE [--policy FILE...] [--backend ${BACKEND_CHOICES.join('|')}]
      [--max-traps N] [--node-name NAME] [--aggregate-window MS]
                 monitor files on this host; KiveAlerts go to stdout as NDJSON
                 (MS: repeats of one process's access folded per window, default
                 1000, 0 = off; docs/kernel.md "Floods")
  probe          print which eBPF backends this kernel supports, and why not
  crds [--out DIR]
                 print the CustomResourceDefinitions (or write them into DIR)
  operator [--kubeconfig FILE] [--namespace NS] [--node-name NAME] [--disable-discover]
      [--disable-loader] [--disable-pod-controller] [--backend ...] [--cri-socket PATH]
                 run the Kubernetes operator (NODE_NAME, POD_NAME, POD_NAMESPACE from
                 the environment); see docs/operator.md

Logs go to stderr as JSON; set KIVE_LOG_LEVEL (debug, info, warn, error).`;

function usage(message: string): KiveError {
  return new KiveError('KIVE_USAGE', message);
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw usage(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run': {
      const { values } = parseArgs({
        args: rest,
        options: {
          policy: { type: 'string', multiple: true },
          backend: { type: 'string', default: 'auto' },
          'max-traps': { type: 'string' },
          'node-name': { type: 'string' },
          'aggregate-window': { type: 'string' },
        },
        strict: true,
        allowPositionals: false,
      });
      if (!values.policy || values.policy.length === 0) throw usage('run needs --policy FILE');
      const backend = parseBackendChoice(values.backend);
      const { runCommand } = await import('./run.ts');
      const maxTraps = positiveInt('max-traps', values['max-traps']);
      const window = values['aggregate-window'];
      const aggregateWindowMs = window === undefined ? undefined : Number(window);
      if (aggregateWindowMs !== undefined && !(Number.isSafeInteger(aggregateWindowMs) && aggregateWindowMs >= 0 && aggregateWindowMs <= 3_600_000)) {
        throw usage(`--aggregate-window must be milliseconds between 0 (off) and 3600000, got "${window}"`);
      }
      return runCommand({
        policyFiles: values.policy,
        backend,
        log: createLogger(),
        ...(maxTraps !== undefined ? { maxTraps } : {}),
        ...(aggregateWindowMs !== undefined ? { aggregateWindowMs } : {}),
        ...(values['node-name'] !== undefined ? { nodeName: values['node-name'] } : {}),
      });
    }
    case 'probe': {
      parseArgs({ args: rest, options: {}, strict: true, allowPositionals: false });
      const { probeCommand } = await import('./probe.ts');
      return probeCommand();
    }
    case 'crds': {
      const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } }, strict: true });
      const { crdsCommand } = await import('./crds.ts');
      return crdsCommand(values.out);
    }
    case 'operator': {
      const { operatorCommand } = await import('./operator.ts');
      return operatorCommand(rest);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      throw usage(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Node's parseArgs throws TypeErrors with codes like ERR_PARSE_ARGS_UNKNOWN_OPTION.
    const parseError = (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    if (isKiveError(err) || parseError) {
      process.stderr.write(`kive: ${(err as Error).message}\n`);
      if (err instanceof VerifierError) {
        // The verdict is in the message; the lines before it say which instruction.
        process.stderr.write(`verifier log (last 40 lines):\n${err.log.slice(-40).join('\n')}\n`);
      }
      if (isKiveError(err, 'KIVE_USAGE') || parseError) process.stderr.write(`run "kive help" for usage\n`);
      process.exitCode = isKiveError(err, 'KIVE_USAGE') || parseError || isKiveError(err, 'KIVE_INVALID_POLICY') ? 2 : 1;
      return;
    }
    process.stderr.write(`kive: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
