/**
 * Local stand-in for AWS Systems Manager Run Command (and the S3 reads of its
 * output), used by local mode and tests. See {@link startLocalSsm}.
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
