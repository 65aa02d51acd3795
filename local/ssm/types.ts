/**
 * Public types of the local SSM endpoint.
 *
 * The document shape is structural on purpose: `lib/host-documents` owns the real
 * type, and anything it returns must be assignable to {@link SsmDocumentContent}
 * without this module importing it (all members are `readonly` so that both mutable
 * and readonly producers fit).
 */

/** One parameter declaration of a Command document (schema 2.2). */
export interface SsmDocumentParameter {
  readonly type: string;
  readonly description?: string;
  readonly allowedPattern?: string;
  readonly allowedValues?: readonly string[];
  readonly default?: string;
  readonly interpolationType?: string;
}

/** One step of a Command document; only `aws:runShellScript` is supported. */
export interface SsmDocumentStep {
  readonly action: string;
  readonly name: string;
  readonly precondition?: unknown;
  readonly inputs: {
    readonly runCommand: readonly string[];
    readonly timeoutSeconds?: string | number;
    readonly workingDirectory?: string;
  };
}

/** Content of an SSM Command document, as given to `CfnDocument.content`. */
export interface SsmDocumentContent {
  readonly schemaVersion: string;
  readonly description?: string;
  readonly parameters?: Readonly<Record<string, SsmDocumentParameter>>;
  readonly mainSteps: readonly SsmDocumentStep[];
}

/**
 * Reachability of a simulated managed node.
 * - `online`: commands are delivered and run at once.
 * - `offline`: the agent is not connected; commands stay pending until the host
 *   comes back or the delivery timeout expires (DescribeInstanceInformation shows
 *   `ConnectionLost`).
 * - `undeliverable`: commands fail at once with StatusDetails `Undeliverable`.
 */
export type LocalHostState = "online" | "offline" | "undeliverable";

/** A simulated managed node: a directory standing for the root of one host. */
export interface LocalHost {
  /** `i-` + 8 or 17 hex-ish characters (EC2) or `mi-` + 17 (hybrid managed node). */
  readonly instanceId: string;
  /** Absolute directory given to commands as `AR_HOST_ROOT`. */
  readonly hostRoot: string;
  readonly computerName?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** @default "online" */
  readonly state?: LocalHostState;
}

/** Options of `startLocalSsm`. */
export interface LocalSsmOptions {
  /** Document name -> content. Every document is validated when the endpoint starts. */
  readonly documents: Readonly<Record<string, SsmDocumentContent>>;
  readonly hosts: readonly LocalHost[];
  /** Directory standing for S3: output objects live at `<outputDir>/<bucket>/<key>`. */
  readonly outputDir: string;
  /** @default "us-east-1" */
  readonly region?: string;
  /**
   * Delivery timeout for commands to offline hosts, in milliseconds. Overrides the
   * SendCommand `TimeoutSeconds` (default 3600 s) so that tests and local runs do not
   * wait an hour for a host that never comes back.
   */
  readonly deliveryTimeoutMs?: number;
  /**
   * GetCommandInvocation answers `InvocationDoesNotExist` for this long after
   * SendCommand, as SSM's eventually consistent Run Command API does right after a
   * command is sent. 0 makes invocations readable at once.
   * @default 300
   */
  readonly invocationVisibilityDelayMs?: number;
  /**
   * Caps every step's execution timeout (the document's `timeoutSeconds`, after the
   * agent's own defaulting) at this many seconds. A step that runs longer is killed as
   * on a real host (SIGKILL to its process group, status `TimedOut` /
   * `ExecutionTimedOut`), only sooner: agent-rollout's documents allow 600 to 1800 s,
   * which is too long to wait for in a test of a hung step. Positive integer;
   * absent = the document's timeout.
   */
  readonly stepTimeoutCapSeconds?: number;
  /** Extra environment for every command (for example `PATH`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Receives one line per command start and end. */
  readonly log?: (line: string) => void;
}

/** Invocation status as `GetCommandInvocation`/`ListCommandInvocations` report it. */
export type InvocationStatus =
  | "Pending"
  | "InProgress"
  | "Delayed"
  | "Success"
  | "Cancelled"
  | "TimedOut"
  | "Failed"
  | "Cancelling";

/** A point-in-time copy of one command invocation, for reports and assertions. */
export interface InvocationSnapshot {
  readonly commandId: string;
  readonly instanceId: string;
  readonly documentName: string;
  readonly comment: string;
  /** Parameters as sent (defaults not applied). */
  readonly parameters: Readonly<Record<string, readonly string[]>>;
  readonly status: InvocationStatus;
  readonly statusDetails: string;
  /** First non-zero exit code among the steps that ran, else the last one; -1 when no step ran to completion. */
  readonly responseCode: number;
  readonly requestedAt: Date;
  readonly startedAt?: Date;
  readonly endedAt?: Date;
}

/** Handle on a running local SSM endpoint. */
export interface LocalSsm {
  /** `http://127.0.0.1:<port>`, for both the SSM and the S3 client (`forcePathStyle: true`). */
  readonly endpoint: string;
  /** Kills every process group still running, clears timers and stops the server. */
  close(): Promise<void>;
  /**
   * Changes the reachability of a host. Going `online` delivers the commands that
   * were waiting for it; going `undeliverable` fails them.
   * @throws Error when the instance is unknown.
   */
  setHostState(instanceId: string, state: LocalHostState): void;
  /** Makes the next `times` calls of `operation` (e.g. "GetCommandInvocation") fail with ThrottlingException. */
  injectThrottling(operation: string, times: number): void;
  /** API calls received per operation (throttled ones included) and commands accepted. */
  stats(): { calls: Record<string, number>; commands: number };
  /** Every invocation so far, oldest first. */
  invocations(): InvocationSnapshot[];
}
