// The names the operator's parts are known by in the API, defined once: the Leases they
// are elected through and the field managers they write with (docs/operator.md).

/** The pod controller: its Lease (one per cluster) and its field manager on policy status. */
export const POD_CONTROLLER = 'kive-pod-controller';

const LOADER_LEASE_PREFIX = 'kive-loader-';

/** The Lease of the loader of one kernel (its boot id). */
export function loaderLeaseName(kernelId: string): string {
  return `${LOADER_LEASE_PREFIX}${kernelId}`;
}

/** The kernel id of a loader Lease; undefined for any other Lease. */
export function kernelIdOfLease(leaseName: string): string | undefined {
  return leaseName.startsWith(LOADER_LEASE_PREFIX) ? leaseName.slice(LOADER_LEASE_PREFIX.length) : undefined;
}
