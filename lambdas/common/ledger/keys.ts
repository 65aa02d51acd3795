/**
 * Keys of the ledger table (docs/contracts.md, "Ledger"). Only the ledger module uses
 * them: callers hand the store domain values and the store adds the keys.
 *
 * @module
 */

/** Key attributes of the table. */
export const TABLE_KEY = { partitionKey: "pk", sortKey: "sk" } as const;
/** The sparse index (pending cleanups; rollouts by creation time): its name and key attributes. */
export const CLEANUP_INDEX = { name: "gsi1", partitionKey: "gsi1pk", sortKey: "gsi1sk" } as const;

/** Primary key of an item. */
export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

/** Partition key of a rollout and its hosts. */
export const rolloutPk = (rolloutId: string): string => `ROLLOUT#${rolloutId}`;
/** Sort key of the rollout item. */
export const ROLLOUT_SK = "ROLLOUT";
/** Sort-key prefix of every host item of a rollout. */
export const HOSTS_PREFIX = "HOST#";
/** Sort-key prefix of a wave's host items: `HOST#<wave:4>#`. */
export const wavePrefix = (wave: number): string =>
  `${HOSTS_PREFIX}${String(wave).padStart(4, "0")}#`;
/** Sort key of a host item. */
export const hostSk = (wave: number, hostId: string): string => `${wavePrefix(wave)}${hostId}`;
/** Partition key of a host's snapshots. */
export const snapshotPk = (hostId: string): string => `HOST#${hostId}`;
/** Sort key of a snapshot item. */
export const snapshotSk = (rolloutId: string): string => `SNAPSHOT#${rolloutId}`;
/** Sort key of snapshot chunk `n` (from 0). */
export const chunkSk = (rolloutId: string, n: number): string =>
  `${snapshotSk(rolloutId)}#JOBS#${String(n).padStart(4, "0")}`;
/**
 * A fleet name as the lock knows it: fleet names are case-insensitive, so that
 * "prod" and "PROD" are one fleet with one lock.
 */
export const normalFleet = (fleet: string): string => fleet.toLowerCase();
/** Partition key of a fleet lock (of the normalised name). */
export const lockPk = (fleet: string): string => `LOCK#${normalFleet(fleet)}`;
/** Partition key of a host's lease. */
export const leasePk = (hostId: string): string => `LEASE#${hostId}`;
/** Sort key of a lease item. */
export const LEASE_SK = "LEASE";
/** The host id a host item's sort key names (see {@link hostSk}). */
export const hostIdOfSk = (sk: string): string => sk.slice(wavePrefix(0).length);
/** Sort key of a lock item. */
export const LOCK_SK = "LOCK";
/** `gsi1pk` of a snapshot while its cleanup is pending. */
export const CLEANUP_PENDING_PK = "CLEANUP#PENDING";
/** `gsi1pk` of every rollout item written since rollouts are listed. */
export const ROLLOUTS_PK = "ROLLOUTS";
/** `gsi1sk` of a rollout item: by creation time, then by id. */
export const rolloutListSk = (createdAt: string, rolloutId: string): string =>
  `${createdAt}#${rolloutId}`;
/** `gsi1sk` of a pending snapshot: oldest first, then by host. */
export const cleanupSk = (createdAt: string, hostId: string): string => `${createdAt}#${hostId}`;

/** Key of the rollout item. */
export const rolloutKey = (rolloutId: string): ItemKey => ({
  pk: rolloutPk(rolloutId),
  sk: ROLLOUT_SK,
});
/** Key of a host item. */
export const hostKey = (key: {
  readonly rolloutId: string;
  readonly wave: number;
  readonly hostId: string;
}): ItemKey => ({ pk: rolloutPk(key.rolloutId), sk: hostSk(key.wave, key.hostId) });
/** Key of a snapshot item. */
export const snapshotKey = (hostId: string, rolloutId: string): ItemKey => ({
  pk: snapshotPk(hostId),
  sk: snapshotSk(rolloutId),
});
/** Key of a host's lease item. */
export const leaseKey = (hostId: string): ItemKey => ({ pk: leasePk(hostId), sk: LEASE_SK });
/** Key of a fleet's lock item. */
export const lockKey = (fleet: string): ItemKey => ({ pk: lockPk(fleet), sk: LOCK_SK });
