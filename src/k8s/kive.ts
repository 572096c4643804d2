// Typed access to Kive's own kinds (group kivebpf.san7o.github.io/v1), so controllers
// write `kive.policies.get(name, ns)` and `kive.data.apply(obj, ...)` without plural
// names or paths. (The policy finalizer is the pod controller's: src/controllers/pod.ts.)

import type { KiveData, KivePolicy } from '../api/v1/types.ts';
import { ResourceClient } from './client.ts';
import { Informer, type InformerOptions } from './informer.ts';
import { KIVE_DATA, KIVE_POLICIES } from './resource.ts';
import type { KubeClient, Requester } from './rest.ts';


export interface KiveClients {
  policies: ResourceClient<KivePolicy>;
  data: ResourceClient<KiveData>;
}

export function kiveClients(client: Requester): KiveClients {
  return {
    policies: new ResourceClient<KivePolicy>(client, KIVE_POLICIES),
    data: new ResourceClient<KiveData>(client, KIVE_DATA),
  };
}

type KiveInformerOptions<T extends KivePolicy | KiveData> = Omit<InformerOptions<T>, 'client' | 'resource'>;

/** An informer on KivePolicies (all namespaces unless opts.namespace). */
export function kivePolicyInformer(client: KubeClient, opts: KiveInformerOptions<KivePolicy> = {}): Informer<KivePolicy> {
  return new Informer<KivePolicy>({ ...opts, client, resource: KIVE_POLICIES });
}

/** An informer on KiveData; a labelSelector on the kernel-id label (src/controllers/naming.ts) gives one kernel's share. */
export function kiveDataInformer(client: KubeClient, opts: KiveInformerOptions<KiveData> = {}): Informer<KiveData> {
  return new Informer<KiveData>({ ...opts, client, resource: KIVE_DATA });
}
