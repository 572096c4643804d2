// The logger the controller layer uses when the caller passes none. Messages are fixed
// strings and everything variable goes into key/values, so logs can be filtered by
// field (controller-runtime's habit): log.info({ key, attempt }, 'reconcile failed').

import { pino, type Logger } from 'pino';

let fallback: Logger | undefined;

/** A process-wide pino logger at KIVE_LOG_LEVEL (default info), created on first use. */
export function defaultLogger(): Logger {
  fallback ??= pino({ name: 'kive', level: process.env.KIVE_LOG_LEVEL ?? 'info' });
  return fallback;
}

export type { Logger };
