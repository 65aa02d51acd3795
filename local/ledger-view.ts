import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoLedgerStore, type ErrorInfo } from "../lambdas/common/ledger/index.js";

/** Where the local ledger is. */
export interface LedgerLocation {
  readonly endpoint: string;
  readonly tableName: string;
}

/** A host record as progress lines and the report need it. */
export interface LedgerHost {
  hostId: string;
  wave: number;
  status: string;
  fromVersion?: string;
  toVersion?: string;
  suspendMs?: number;
  listenerGapMs?: number;
  unservedMs?: number;
  error?: string;
  /** `fewest-jobs`: the jobs the host ran when its wave was loaded. */
  jobCount?: number;
}

/** A job snapshot as the report needs it. */
export interface LedgerSnapshot {
  hostId: string;
  rolloutId: string;
  oldVersion: string;
  jobCount: number;
  cleanup: string;
}

/** Read-only view of one rollout in the ledger, for progress and the report. */
export interface LedgerView {
  rollout?: {
    status: string;
    error?: string;
    failedCount: number;
    haltReason?: string;
    /** The rollout this one rolled back (a whole-rollout rollback). */
    rollbackOf?: string;
  };
  hosts: LedgerHost[];
  snapshots: LedgerSnapshot[];
}

const stores = new Map<string, DynamoLedgerStore>();

/** The functions' own ledger store, pointed at the local table. */
function storeFor(where: LedgerLocation): DynamoLedgerStore {
  const key = `${where.endpoint} ${where.tableName}`;
  let store = stores.get(key);
  if (!store) {
    const client = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: where.endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: "local", secretAccessKey: "local" },
      }),
      { marshallOptions: { removeUndefinedValues: true } },
    );
    store = new DynamoLedgerStore({ client, tableName: where.tableName });
    stores.set(key, store);
  }
  return store;
}

const describeError = (error: ErrorInfo | undefined) =>
  error === undefined ? undefined : `${error.name}: ${error.message}`;

/** Reads the rollout item, its host items and the snapshots its switches recorded. */
export async function readLedger(where: LedgerLocation, rolloutId: string): Promise<LedgerView> {
  const store = storeFor(where);
  const [rollout, hosts] = await Promise.all([
    store.getRollout(rolloutId),
    store.listHosts(rolloutId),
  ]);
  const snapshots = await Promise.all(hosts.map((h) => store.getSnapshot(h.hostId, rolloutId)));
  return {
    rollout: rollout && {
      status: rollout.status,
      error: describeError(rollout.error),
      failedCount: rollout.failedCount,
      ...(rollout.haltReason === undefined ? {} : { haltReason: rollout.haltReason }),
      ...(rollout.rollbackOf === undefined ? {} : { rollbackOf: rollout.rollbackOf }),
    },
    hosts: hosts.map((h) => ({
      hostId: h.hostId,
      wave: h.wave,
      status: h.status,
      fromVersion: h.fromVersion,
      toVersion: h.toVersion,
      suspendMs: h.suspendMs,
      listenerGapMs: h.listenerGapMs,
      unservedMs: h.unservedMs,
      error: describeError(h.error),
      ...(h.jobCount === undefined ? {} : { jobCount: h.jobCount }),
    })),
    snapshots: snapshots.flatMap((s) =>
      s === undefined
        ? []
        : [
            {
              hostId: s.hostId,
              rolloutId,
              oldVersion: s.oldVersion,
              jobCount: s.jobCount,
              cleanup: s.cleanup,
            },
          ],
    ),
  };
}

/** The owner of a fleet's lock as stored (a corrupt item's raw owner too); undefined when free. */
export async function readLockOwner(
  where: LedgerLocation,
  fleet: string,
): Promise<string | undefined> {
  return (await storeFor(where).getHeldLock(fleet))?.owner;
}
