// A LIST of every page of a collection (limit + continue), as the informers and the
// cleanup command need it: one request per page, so a big cluster never returns one huge
// response, and the resourceVersion of the list for a watch to start from.

import { collectionPath, type KubeList, type KubeObject, type ResourceRef } from './resource.ts';
import type { Requester } from './rest.ts';

export interface ListOptions {
  /** All namespaces when undefined (for a namespaced resource). */
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  pageSize?: number | undefined;
  signal?: AbortSignal | undefined;
}

export async function listAll<T extends KubeObject>(client: Requester, ref: ResourceRef, opts: ListOptions = {}): Promise<{ items: T[]; resourceVersion: string }> {
  const items: T[] = [];
  let cont: string | undefined;
  let resourceVersion = '';
  do {
    const page = await client.request<KubeList<T>>({
      method: 'GET',
      path: collectionPath(ref, opts.namespace),
      query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: opts.pageSize ?? 500, continue: cont },
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    items.push(...page.items);
    cont = page.metadata?.continue || undefined;
    resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
  } while (cont !== undefined);
  return { items, resourceVersion };
}
