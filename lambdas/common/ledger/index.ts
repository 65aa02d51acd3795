/**
 * The rollout ledger: one DynamoDB table (docs/contracts.md, "Ledger"). Handlers use
 * the {@link LedgerStore} interface with domain values; {@link DynamoLedgerStore}
 * implements it and alone knows the table's keys.
 *
 * @module
 */
export { DynamoLedgerStore, type DynamoLedgerStoreOptions } from "./dynamo-store.js";
export {
  ACTIVE_HOST_STATUSES,
  type CleanupAttempt,
  CleanupAttemptSchema,
  type ErrorInfo,
  FAILURE_HOST_STATUSES,
  FINAL_HOST_STATUSES,
  type Host,
  HostSchema,
  type HostStatus,
  HostStatusSchema,
  JOBS_PER_CHUNK,
  type Lock,
  LockSchema,
  type Rollout,
  type RolloutGate,
  RolloutGateSchema,
  RolloutSchema,
  type RolloutStatus,
  RolloutStatusSchema,
  type RolloutSummary,
  RolloutSummarySchema,
  type Snapshot,
  SnapshotSchema,
  stepEndedAtField,
} from "./items.js";
export type {
  AcquireLockArgs,
  CleanupResultArgs,
  FailUpgradedHostArgs,
  FinalizeHostArgs,
  FinishRolloutArgs,
  HostKey,
  LedgerStore,
  NewHost,
  NewRollout,
  NewSnapshot,
  RecordCommandArgs,
  RecordCommandResult,
  RecordStepResultArgs,
  RefreshLockArgs,
  StepResultFields,
} from "./store.js";
