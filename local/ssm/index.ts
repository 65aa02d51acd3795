/**
 * Local stand-in for AWS Systems Manager Run Command (and the S3 reads of its
 * output), used by local mode and tests. See {@link startLocalSsm}.
 *
 * Parts: `server.ts` composes `transport.ts` (HTTP, X-Amz-Target routing, errors on
 * the wire, S3 reads), `operations.ts` (one handler per SSM operation),
 * `validation.ts` and `instance-validation.ts` (what each operation refuses), `views.ts` (response shapes and
 * snapshots), `instances.ts` (the simulated hosts), `commands.ts` (commands and
 * invocations) and `agent.ts` (the simulated SSM agent that runs them, via
 * `process.ts`, `documents.ts` and `s3.ts`).
 */

export { startLocalSsm } from "./server.js";
export type {
  InvocationSnapshot,
  InvocationStatus,
  LocalHost,
  LocalHostState,
  LocalSsm,
  LocalSsmOptions,
  SsmDocumentContent,
  SsmDocumentParameter,
  SsmDocumentStep,
} from "./types.js";
