// The `kive` command line. Each subcommand is a function returning an exit code; this
// file only parses arguments (with the flag tables of flags.ts) and turns errors into one
// clear line on stderr. Exit codes: flags.ts EXIT_CODES (docs/cli.md).

import { isKiveError, KiveError, VerifierError } from '../errors.ts';
import { parseBackendChoice } from '../kernel/backends/index.ts';
import { createLogger, parseLogFormat } from '../log.ts';
import { COMMANDS, commandHelp, CRDS, mainHelp, parseCommand, positiveInt, PROBE, RUN, type CommandSpec } from './flags.ts';
import { kiveVersion } from './version.ts';

function usage(message: string): KiveError {
  return new KiveError('KIVE_USAGE', message);
}

/** True when the arguments ask for help (before any `--`, which ends the flags). */
function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-V' || command === 'version') return print(`kive ${kiveVersion()}`);
  if (command === undefined) {
    process.stderr.write(`${mainHelp()}\n`);
    return 2;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    if (topic === undefined) return print(mainHelp());
    const cmd = COMMANDS.find((c) => c.name === topic);
    if (!cmd) throw usage(`help: unknown command "${topic}"`);
    return print(commandHelp(cmd));
  }
  const spec: CommandSpec | undefined = COMMANDS.find((c) => c.name === command);
  if (!spec) throw usage(`unknown command "${command}"`);
  if (wantsHelp(rest)) return print(commandHelp(spec));

  switch (command) {
    case 'run': {
      const values = parseCommand(RUN, rest);
      if (!values.policy || values.policy.length === 0) throw usage('run needs --policy FILE');
      const backend = parseBackendChoice(values.backend ?? 'auto');
      const maxTraps = positiveInt('max-traps', values['max-traps']);
      const stdoutBufferBytes = positiveInt('stdout-buffer-bytes', values['stdout-buffer-bytes']);
      const callbackRetryForMs = positiveInt('callback-retry-for', values['callback-retry-for']);
      const { runCommand } = await import('./run.ts');
      const window = values['aggregate-window'];
      const aggregateWindowMs = window === undefined ? undefined : Number(window);
      if (aggregateWindowMs !== undefined && !(Number.isSafeInteger(aggregateWindowMs) && aggregateWindowMs >= 0 && aggregateWindowMs <= 3_600_000)) {
        throw usage(`--aggregate-window must be milliseconds between 0 (off) and 3600000, got "${window}"`);
      }
      const { parseListenAddress } = await import('../metrics/server.ts');
      const metricsAddress = values['metrics-address'] === undefined ? undefined : parseListenAddress('metrics-address', values['metrics-address']);
      return runCommand({
        policyFiles: values.policy,
        backend,
        log: createLogger(undefined, parseLogFormat(values['log-format'])),
        ...(metricsAddress !== undefined ? { metricsAddress } : {}),
        ...(maxTraps !== undefined ? { maxTraps } : {}),
        ...(stdoutBufferBytes !== undefined ? { stdoutBufferBytes } : {}),
        ...(aggregateWindowMs !== undefined ? { aggregateWindowMs } : {}),
        ...(values['node-name'] !== undefined ? { nodeName: values['node-name'] } : {}),
        ...(values['cgroup-root'] !== undefined ? { cgroupRoot: values['cgroup-root'] } : {}),
        ...(values['callback-secret-file'] !== undefined ? { callbackSecretFile: values['callback-secret-file'] } : {}),
        ...(values['callback-ca-file'] !== undefined ? { callbackCaFile: values['callback-ca-file'] } : {}),
        ...(callbackRetryForMs !== undefined ? { callbackRetryForMs } : {}),
        ...(values['spool-dir'] !== undefined ? { spoolDir: values['spool-dir'] } : {}),
      });
    }
    case 'probe': {
      parseCommand(PROBE, rest);
      const { probeCommand } = await import('./probe.ts');
      return probeCommand();
    }
    case 'crds': {
      const values = parseCommand(CRDS, rest);
      const { crdsCommand } = await import('./crds.ts');
      return crdsCommand(values.out);
    }
    case 'operator': {
      const { operatorCommand } = await import('./operator.ts');
      return operatorCommand(rest);
    }
    case 'cleanup': {
      const { cleanupCommand } = await import('./cleanup.ts');
      return cleanupCommand(rest);
    }
    default:
      // A command in flags.ts's table without a case here is a bug, not a user error.
      throw new Error(`command "${command}" has no implementation`);
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
      const usageError = isKiveError(err, 'KIVE_USAGE') || parseError;
      if (usageError) {
        const cmd = COMMANDS.find((c) => c.name === process.argv[2]);
        process.stderr.write(`run "kive ${cmd ? `${cmd.name} --help` : 'help'}" for usage\n`);
      }
      process.exitCode = usageError || isKiveError(err, 'KIVE_INVALID_POLICY') || isKiveError(err, 'KIVE_CONFIG') ? 2 : 1;
      return;
    }
    process.stderr.write(`kive: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
