// The logger the controller layer uses when the caller passes none. Messages are fixed
// strings and everything variable goes into key/values, so logs can be filtered by
// field (controller-runtime's habit): log.info({ key, attempt }, 'reconcile failed').
// It is the project's one logger (src/log.ts): stderr, since stdout carries alerts.

import { createLogger, type Logger } from '../log.ts';

let fallback: Logger | undefined;

/** A process-wide logger at KIVE_LOG_LEVEL (default info), created on first use. */
export function defaultLogger(): Logger {
  fallback ??= createLogger();
  return fallback;
}

export type { Logger };
