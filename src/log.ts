// Logs go to stderr (pino); stdout carries only alerts. JSON lines for machines (a
// pipe, a file, a container log), one readable line per record on a terminal:
// `--log-format auto|json|text` (docs/cli.md).
import { pino, type DestinationStream, type Logger } from 'pino';
import { KiveError } from './errors.ts';

export type { Logger };

export type LogFormat = 'auto' | 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'text'];

export function parseLogFormat(value: string | undefined): LogFormat {
  const v = value ?? 'auto';
  if (!(LOG_FORMATS as readonly string[]).includes(v)) throw new KiveError('KIVE_USAGE', `--log-format must be one of ${LOG_FORMATS.join(', ')}, got "${v}"`);
  return v as LogFormat;
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
// Fields every record has; the text line shows them in its own layout.
const FIXED = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

function textValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** One pino JSON record as `HH:MM:SS.mmm LEVEL msg key=value ...`. */
export function formatText(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const level = (LEVELS[rec.level as number] ?? String(rec.level)).padEnd(5);
  const fields = Object.entries(rec)
    .filter(([k]) => !FIXED.has(k))
    .map(([k, v]) => `${k}=${textValue(v)}`);
  return `${[time, level, String(rec.msg ?? ''), ...fields].filter((s) => s !== '').join(' ')}\n`;
}

export function createLogger(level: string = process.env.KIVE_LOG_LEVEL ?? 'info', format: LogFormat = 'auto'): Logger {
  const fd2 = pino.destination({ fd: 2, sync: false });
  const text = format === 'text' || (format === 'auto' && process.stderr.isTTY === true);
  const dest: DestinationStream = text ? { write: (s: string) => void fd2.write(formatText(s)) } : fd2;
  return pino({ level, base: { name: 'kive' } }, dest);
}
