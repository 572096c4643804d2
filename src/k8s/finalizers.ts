// Finalizers, changed safely. A finalizer list is replaced whole by a merge patch, so an
// unguarded patch computed from a stale copy could drop a finalizer another controller
// just added. Each patch here therefore carries the resourceVersion the caller's copy
// has: the API server rejects it with 409 Conflict if the object moved meanwhile, and
// the caller re-reads (retryOnConflict) or lets its reconcile be retried.

import { mergePatch } from './apply.ts';
import type { KubeObject, ResourceRef } from './resource.ts';
import { isConflict, type Requester } from './rest.ts';

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/**
 * Adds finalizer to obj's finalizers unless present; returns the updated object (obj
 * itself when nothing had to change). Throws ApiError 409 if obj is stale.
 */
export async function addFinalizer<T extends KubeObject>(
  client: Requester,
  ref: ResourceRef,
  obj: T,
  finalizer: string,
  signal?: AbortSignal,
): Promise<T> {
  if (hasFinalizer(obj, finalizer)) return obj;
  return patchFinalizers(client, ref, obj, [...(obj.metadata?.finalizers ?? []), finalizer], signal);
}

/**
 * Removes finalizer from obj; returns the updated object (obj when it was not there).
 * Removing the last finalizer of an object being deleted lets the deletion complete.
 * Throws ApiError 409 if obj is stale.
 */
export async function removeFinalizer<T extends KubeObject>(
  client: Requester,
  ref: ResourceRef,
  obj: T,
  finalizer: string,
  signal?: AbortSignal,
): Promise<T> {
  if (!hasFinalizer(obj, finalizer)) return obj;
  const rest = (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer);
  return patchFinalizers(client, ref, obj, rest, signal);
}

function patchFinalizers<T extends KubeObject>(
  client: Requester,
  ref: ResourceRef,
  obj: T,
  finalizers: string[],
  signal: AbortSignal | undefined,
): Promise<T> {
  const rv = obj.metadata?.resourceVersion;
  if (rv === undefined || rv === '') throw new TypeError(`${ref.kind}: finalizer patch needs metadata.resourceVersion`);
  const name = obj.metadata?.name ?? '';
  // null, not [], when empty: a merge patch with null deletes the field.
  const patch = { metadata: { resourceVersion: rv, finalizers: finalizers.length > 0 ? finalizers : null } };
  return mergePatch<T>(client, ref, obj.metadata?.namespace, name, patch, { signal });
}

/**
 * Runs fn until it does not fail with 409 Conflict, at most attempts times; fn should
 * re-read the object each time. Other errors, and the last conflict, are thrown.
 */
export async function retryOnConflict<R>(fn: () => Promise<R>, attempts = 5): Promise<R> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConflict(err) || i >= attempts) throw err;
    }
  }
}
