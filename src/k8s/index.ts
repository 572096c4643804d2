// The controller layer over @kubernetes/client-node; see docs/controllers.md,
// "The controller layer". Import from here or from the individual modules.

export { realClock, FakeClock, sleep, type Clock, type Timer } from './clock.ts';
export { Backoff, exponentialDelay, type BackoffOptions } from './backoff.ts';
export { KubeClient, ApiError, isStatus, isNotFound, isConflict, isGone, type Requester, type RequestOptions } from './rest.ts';
export * from './resource.ts';
export { Store, labelIndex, namespaceIndex, type IndexFunc } from './store.ts';
export { Informer, type EventHandler, type InformerOptions } from './informer.ts';
export { WorkQueue, ExponentialRateLimiter, type RateLimiter, type WorkQueueOptions } from './workqueue.ts';
export { Controller, TerminalError, type Reconciler, type ReconcileResult, type ControllerOptions } from './controller.ts';
export { LeaderElector, type LeaderCallbacks, type LeaderElectorOptions } from './leader.ts';
export { apply, applyStatus, mergePatch, jsonPatch, type ApplyOptions, type PatchOptions, type JsonPatchOp } from './apply.ts';
export { addFinalizer, removeFinalizer, hasFinalizer, retryOnConflict } from './finalizers.ts';
export { ResourceClient, type ListOptions } from './client.ts';
export { kiveClients, kivePolicyInformer, kiveDataInformer, type KiveClients } from './kive.ts';
