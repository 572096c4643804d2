// Where Kive's kinds live in the REST tree, for the generic k8s layer (src/k8s/resource.ts
// knows no Kive kind). The plurals must match deploy/crds (kubebuilder's pluralization:
// "data" is already plural).

import type { ResourceRef } from '../../k8s/resource.ts';
import { GROUP, VERSION } from './types.ts';

export const KIVE_POLICIES: ResourceRef = { group: GROUP, version: VERSION, plural: 'kivepolicies', kind: 'KivePolicy', namespaced: true };
export const KIVE_DATA: ResourceRef = { group: GROUP, version: VERSION, plural: 'kivedata', kind: 'KiveData', namespaced: true };
