// Kubernetes Events for a KivePolicy's life on this node (docs/metrics.md "Events"): the
// discover controller's node report, seen as a change, becomes Events on the policy:
// `TrapArmed` (Normal) when its traps are armed without problems, and one Warning per
// problem with the problem's reason (`PathNotFound`, `UnsafePath`, ...). Only a report
// that differs from the last one for the policy records anything: re-checks that find
// the same state stay quiet (the recorder would aggregate them anyway, but its rate
// limit is better spent on news).

import type { KivePolicy, NodeReport } from '../api/v1/types.ts';
import type { DiscoverWriter } from '../controllers/discover.ts';
import type { EventRecorder } from '../k8s/events.ts';

export function withPolicyEvents(writer: DiscoverWriter, events: EventRecorder): DiscoverWriter {
  const last = new Map<string, string>();
  return {
    ...writer,
    async reportStatus(policy: KivePolicy, report: NodeReport): Promise<void> {
      await writer.reportStatus(policy, report);
      const key = `${policy.metadata.namespace ?? ''}/${policy.metadata.name}`;
      const { observedGeneration: _g, ...state } = report;
      const summary = JSON.stringify(state);
      if (last.get(key) === summary) return;
      if (last.size >= 4096 && !last.has(key)) last.delete(last.keys().next().value!);
      last.set(key, summary);
      const ref = {
        apiVersion: policy.apiVersion,
        kind: 'KivePolicy',
        name: policy.metadata.name,
        ...(policy.metadata.namespace ? { namespace: policy.metadata.namespace } : {}),
        ...(policy.metadata.uid ? { uid: policy.metadata.uid } : {}),
      };
      for (const p of report.problems ?? []) events.record(ref, 'Warning', p.reason, p.message);
      if ((report.armedTraps ?? 0) > 0 && (report.problems ?? []).length === 0) {
        events.record(ref, 'Normal', 'TrapArmed', `${report.armedTraps} trap(s) armed in ${report.matchedContainers ?? 0} container(s) on node ${report.node}`);
      }
    },
  };
}
