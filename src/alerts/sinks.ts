// The registry of alert sinks: one line per sink. Adding a sink is one new module that
// exports a SinkFactory plus one line here (docs/contributing.md, "A new sink").

import { callbackSinkFactory } from './callback.ts';
import { kubeEventSinkFactory } from './k8s-events.ts';
import type { SinkFactory } from './sink.ts';
import { stdoutSinkFactory } from './stdout.ts';

export const SINKS: readonly SinkFactory[] = [stdoutSinkFactory, callbackSinkFactory, kubeEventSinkFactory];
