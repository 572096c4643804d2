// What every alert sink reports: each alert handed to a sink ends in exactly one of
// these counters, so `delivered + dropped + failed` equals what the sink was given once
// it has closed. The stop line of `kive run` and the operator's logs print them as is.
//
// - delivered: the receiver has it (stdout: its last byte, the newline, was accepted by
//   the kernel into the pipe or file; callback: a 2xx answer).
// - dropped: never attempted, because the sink's bounded buffer or queue was full.
// - failed: accepted but not delivered: a write error (EPIPE when the reader is gone), a
//   receiver that refused or never answered, or still pending when shutdown's time bound
//   ran out.
//
// Issue 10 turns this into the `AlertSink` interface behind one alerting core; this file
// only fixes the outcome vocabulary both sinks already share.

export interface SinkOutcomes {
  delivered: number;
  dropped: number;
  failed: number;
}

export interface SinkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
