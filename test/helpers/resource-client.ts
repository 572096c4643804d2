// A typed handle on one kind for tests: get, list, create, replace, delete, apply and
// patches with the ResourceRef bound, so a test never spells a plural or builds a path.
// Plain JSON in and out. The controllers do not use it: they read informer caches and
// write through src/operator/writers.ts.

import { apply, applyStatus, jsonPatch, mergePatch, type ApplyOptions, type JsonPatchOp, type PatchOptions } from '../../src/k8s/apply.ts';
import { addFinalizer, removeFinalizer } from '../../src/k8s/finalizers.ts';
import { apiVersionOf, collectionPath, objectPath, type KubeList, type KubeObject, type ResourceRef } from '../../src/k8s/resource.ts';
import { isNotFound, type Requester } from '../../src/k8s/rest.ts';

export interface ListOptions {
  /** All namespaces when undefined. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  signal?: AbortSignal;
}

export class ResourceClient<T extends KubeObject> {
  readonly ref: ResourceRef;
  readonly #c: Requester;

  constructor(client: Requester, ref: ResourceRef) {
    this.#c = client;
    this.ref = ref;
  }

  /** Reads one object; throws ApiError (404 when missing). */
  get(name: string, namespace?: string, signal?: AbortSignal): Promise<T> {
    return this.#c.request<T>({ method: 'GET', path: objectPath(this.ref, namespace, name), signal });
  }

  /** get(), but undefined when the object does not exist. */
  async tryGet(name: string, namespace?: string, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.get(name, namespace, signal);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Lists every page. Prefer an informer's cache inside reconcile loops. */
  async list(opts: ListOptions = {}): Promise<T[]> {
    const items: T[] = [];
    let cont: string | undefined;
    do {
      const page = await this.#c.request<KubeList<T>>({
        method: 'GET',
        path: collectionPath(this.ref, opts.namespace),
        query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: 500, continue: cont },
        signal: opts.signal,
      });
      items.push(...page.items);
      cont = page.metadata?.continue || undefined;
    } while (cont !== undefined);
    return items;
  }

  /** Creates obj (apiVersion and kind filled in); throws ApiError 409 if it exists. */
  create(obj: T, signal?: AbortSignal): Promise<T> {
    return this.#c.request<T>({
      method: 'POST',
      path: collectionPath(this.ref, obj.metadata?.namespace),
      body: { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(this.ref), kind: obj.kind ?? this.ref.kind },
      signal,
    });
  }

  /** Replaces obj; its metadata.resourceVersion makes this conditional (409 if stale). */
  replace(obj: T, signal?: AbortSignal): Promise<T> {
    return this.#c.request<T>({
      method: 'PUT',
      path: objectPath(this.ref, obj.metadata?.namespace, obj.metadata?.name ?? ''),
      body: obj,
      signal,
    });
  }

  /**
   * Deletes an object; false if it was already gone. With resourceVersion, deletes only
   * that version (409 otherwise).
   */
  async delete(name: string, namespace?: string, opts: { resourceVersion?: string; signal?: AbortSignal } = {}): Promise<boolean> {
    const body = opts.resourceVersion === undefined
      ? undefined
      : { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: opts.resourceVersion } };
    try {
      await this.#c.request({ method: 'DELETE', path: objectPath(this.ref, namespace, name), body, signal: opts.signal });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  apply(obj: T, opts: ApplyOptions): Promise<T> {
    return apply(this.#c, this.ref, obj, opts);
  }

  /** Server-side apply of obj's status through the status subresource. */
  applyStatus(obj: T, opts: ApplyOptions): Promise<T> {
    return applyStatus(this.#c, this.ref, obj, opts);
  }

  mergePatch(name: string, namespace: string | undefined, patch: unknown, opts?: PatchOptions): Promise<T> {
    return mergePatch<T>(this.#c, this.ref, namespace, name, patch, opts);
  }

  jsonPatch(name: string, namespace: string | undefined, ops: JsonPatchOp[], opts?: PatchOptions): Promise<T> {
    return jsonPatch<T>(this.#c, this.ref, namespace, name, ops, opts);
  }

  addFinalizer(obj: T, finalizer: string, signal?: AbortSignal): Promise<T> {
    return addFinalizer(this.#c, this.ref, obj, finalizer, signal);
  }

  removeFinalizer(obj: T, finalizer: string, signal?: AbortSignal): Promise<T> {
    return removeFinalizer(this.#c, this.ref, obj, finalizer, signal);
  }
}
