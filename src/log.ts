// Logs are JSON lines on stderr (pino); stdout carries only alerts.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.KIVE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { name: 'kive' } }, pino.destination({ fd: 2, sync: false }));
}
