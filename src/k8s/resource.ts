// Naming resources without discovery: a ResourceRef says where a kind lives in the REST
// tree (group, version, plural, scope), so paths are built locally instead of asking the
// API server on every call, and controllers pass around one constant per kind.

export interface ResourceRef {
  /** '' for the core group (pods, namespaces, ...). */
  group: string;
  version: string;
  /** The lower-case plural of the REST path: `pods`, `leases`, `kivepolicies`. */
  plural: string;
  kind: string;
  namespaced: boolean;
}

/** The fields every object has that the controller layer relies on. Plain JSON only. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
}

export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
export const NAMESPACES: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };
export const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
export const LEASES: ResourceRef = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
};
export const CRDS: ResourceRef = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
};

/** `v1` for the core group, `group/version` otherwise. */
export function apiVersionOf(ref: ResourceRef): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

function groupPrefix(ref: ResourceRef): string {
  return ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
}

/**
 * The collection path: all namespaces when namespace is undefined for a namespaced
 * resource, the one namespace otherwise.
 */
export function collectionPath(ref: ResourceRef, namespace?: string): string {
  if (ref.namespaced && namespace !== undefined && namespace !== '') {
    return `${groupPrefix(ref)}/namespaces/${encodeURIComponent(namespace)}/${ref.plural}`;
  }
  return `${groupPrefix(ref)}/${ref.plural}`;
}

/** One object's path, optionally a subresource such as `status`. */
export function objectPath(ref: ResourceRef, namespace: string | undefined, name: string, subresource?: string): string {
  if (ref.namespaced && (namespace === undefined || namespace === '')) {
    throw new TypeError(`${ref.kind} ${name}: a namespace is required for a namespaced resource`);
  }
  const base = `${collectionPath(ref, ref.namespaced ? namespace : undefined)}/${encodeURIComponent(name)}`;
  return subresource === undefined ? base : `${base}/${subresource}`;
}

/** The cache and queue key of an object: `namespace/name`, or `name` when cluster-wide. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns === undefined || ns === '' ? name : `${ns}/${name}`;
}
