// Writes: server-side apply and patches, for core and custom resources alike, and for
// the status subresource.
//
// How client-node 2.x does server-side apply: generated APIs take a Content-Type override
// through middleware, `setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply)`
// passed as the call's options (e.g. to CustomObjectsApi.patchNamespacedCustomObjectStatus);
// KubernetesObjectApi.patch(obj, ..., fieldManager, force, PatchStrategy.ServerSideApply)
// does it for whole objects but has no subresource argument, and it discovers the plural
// with an extra request and deserializes built-in kinds into models (Date objects). Here
// the same request - PATCH with `application/apply-patch+yaml` (client-node's
// PatchStrategy.ServerSideApply), `fieldManager`, optional `force` - goes through
// KubeClient, so one function covers every resource and subresource and returns plain
// JSON like the informer's cache.

import { PatchStrategy } from '@kubernetes/client-node';
import { apiVersionOf, objectPath, type KubeObject, type ResourceRef } from './resource.ts';
import type { Requester } from './rest.ts';

export interface ApplyOptions {
  /** Who owns the applied fields; use one stable name per controller. */
  fieldManager: string;
  /**
   * Take fields owned by other managers instead of failing with 409 Conflict. Controllers
   * that are the only writer of what they apply usually set it (kubectl's --force-conflicts).
   */
  force?: boolean;
  /** Validate and compute the result without persisting it. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

/**
 * Server-side applies obj (the fields this manager wants, and only those) and returns
 * the resulting object. apiVersion and kind default to ref's. Throws ApiError: 409 when
 * another manager owns a field being changed and force is off, 422 for invalid objects.
 */
export function apply<T extends KubeObject>(client: Requester, ref: ResourceRef, obj: T, opts: ApplyOptions): Promise<T> {
  return applyTo(client, ref, obj, opts, undefined);
}

/** apply() to the status subresource: only status fields are taken from obj. */
export function applyStatus<T extends KubeObject>(client: Requester, ref: ResourceRef, obj: T, opts: ApplyOptions): Promise<T> {
  return applyTo(client, ref, obj, opts, 'status');
}

function applyTo<T extends KubeObject>(
  client: Requester,
  ref: ResourceRef,
  obj: T,
  opts: ApplyOptions,
  subresource: string | undefined,
): Promise<T> {
  const name = obj.metadata?.name;
  if (name === undefined || name === '') throw new TypeError(`apply ${ref.kind}: metadata.name is required`);
  // The apply body must name its type; fill it in so callers can pass bare objects.
  const body = { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(ref), kind: obj.kind ?? ref.kind };
  return client.request<T>({
    method: 'PATCH',
    path: objectPath(ref, obj.metadata?.namespace, name, subresource),
    query: { fieldManager: opts.fieldManager, force: opts.force ? true : undefined, dryRun: opts.dryRun ? 'All' : undefined },
    body,
    contentType: PatchStrategy.ServerSideApply,
    signal: opts.signal,
  });
}

export interface PatchOptions {
  subresource?: string;
  fieldManager?: string;
  signal?: AbortSignal;
}

/**
 * RFC 7386 JSON merge patch. Lists are replaced whole, null deletes a field. Include
 * metadata.resourceVersion in the patch to make it conditional (409 if it moved).
 */
export function mergePatch<T extends KubeObject>(
  client: Requester,
  ref: ResourceRef,
  namespace: string | undefined,
  name: string,
  patch: unknown,
  opts: PatchOptions = {},
): Promise<T> {
  return patchAs<T>(PatchStrategy.MergePatch, client, ref, namespace, name, patch, opts);
}

export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

/** RFC 6902 JSON patch; a failing `test` op makes the whole patch fail (422). */
export function jsonPatch<T extends KubeObject>(
  client: Requester,
  ref: ResourceRef,
  namespace: string | undefined,
  name: string,
  ops: JsonPatchOp[],
  opts: PatchOptions = {},
): Promise<T> {
  return patchAs<T>(PatchStrategy.JsonPatch, client, ref, namespace, name, ops, opts);
}

function patchAs<T extends KubeObject>(
  contentType: PatchStrategy,
  client: Requester,
  ref: ResourceRef,
  namespace: string | undefined,
  name: string,
  body: unknown,
  opts: PatchOptions,
): Promise<T> {
  return client.request<T>({
    method: 'PATCH',
    path: objectPath(ref, namespace, name, opts.subresource),
    query: { fieldManager: opts.fieldManager },
    body,
    contentType,
    signal: opts.signal,
  });
}
