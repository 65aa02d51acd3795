/**
 * The app's settings: CDK context knobs, their defaults, and where the project lives.
 * The app reads the context once, here, and hands plain values to the stack.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Node } from "constructs";
import { isArtifactDir } from "../lambdas/common/patterns.js";

/**
 * Root of the project (the directory holding `cdk.json`): function entries, profiles
 * and host files are found relative to it, whatever the working directory.
 */
export const PROJECT_ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/**
 * CDK context knobs of the app, set in `cdk.json` ("context") or with
 * `cdk synth -c key=value` (values given on the command line arrive as strings;
 * numbers are parsed).
 *
 * | key | default | meaning |
 * |---|---|---|
 * | `cleanupSchedule` | `cron(0 2 * * ? *)` | EventBridge schedule expression of the nightly cleanup (UTC) |
 * | `targetTagKey` | `agent-rollout:managed` | tag key a host must carry for the stack's functions to run commands on it |
 * | `targetTagValue` | `true` | value of that tag |
 * | `profilesDir` | `profiles` | directory of the `*.profile` files deployed with the stack (relative to the project root) |
 * | `logRetentionDays` | `90` | retention of every log group (a CloudWatch Logs retention value) |
 * | `inlinePollSeconds` | `20` | how long one host-step invocation polls a command before handing back to a Wait state |
 * | `alarmTopicArn` | none | SNS topic ARN the alarms notify (a pager, a chat hook); without it the alarms only show in CloudWatch |
 * | `cleanupOverdueNights` | `3` | a snapshot still pending after this many nights raises the overdue-cleanup alarm |
 * | `hostStepConcurrency` | `100` | most host-step invocations one rollout runs at once: plan-rollout refuses a larger `batchSize`; set explicitly, it is also host-step's reserved concurrency |
 * | `artifactDirs` | none | absolute directories on the hosts file:// artifacts may come from (a JSON list, or `:`-separated on the command line); none: file:// artifacts are refused |
 */
export interface RolloutSettings {
  /** EventBridge schedule expression of the nightly cleanup. @default "cron(0 2 * * ? *)" */
  readonly cleanupSchedule: string;
  /** Tag key that marks the hosts this stack may command. @default "agent-rollout:managed" */
  readonly targetTagKey: string;
  /** Value of {@link RolloutSettings.targetTagKey}. @default "true" */
  readonly targetTagValue: string;
  /** Absolute directory of the deployed profiles. @default `<project>/profiles` */
  readonly profilesDir: string;
  /** Retention of every log group. @default RetentionDays.THREE_MONTHS */
  readonly logRetention: RetentionDays;
  /** host-step's inline polling budget, seconds. @default 20 */
  readonly inlinePollSeconds: number;
  /** SNS topic the alarms notify. @default - none: alarms without actions */
  readonly alarmTopicArn?: string;
  /** Nights a snapshot may stay pending before the overdue-cleanup alarm. @default 3 */
  readonly cleanupOverdueNights: number;
  /**
   * Bound on a rollout's `batchSize`, so on the host-step invocations in flight (each
   * host of a Map batch has at most one). @default 100
   */
  readonly hostStepConcurrency: number;
  /**
   * Reserve {@link hostStepConcurrency} for host-step: only when the context sets
   * `hostStepConcurrency` explicitly, as a reservation takes that much from the
   * account's unreserved pool. @default false
   */
  readonly reserveHostStepConcurrency: boolean;
  /**
   * Directories on the hosts a file:// artifact may come from: plan-rollout refuses any
   * other, the stage document's `artifactUrl` pattern allows only these, and the stage
   * script re-checks the resolved path. @default [] (file:// refused)
   */
  readonly artifactDirs: readonly string[];
}

/** Defaults of {@link RolloutSettings}, as context values. */
export const CONTEXT_DEFAULTS = {
  cleanupSchedule: "cron(0 2 * * ? *)",
  targetTagKey: "agent-rollout:managed",
  targetTagValue: "true",
  profilesDir: "profiles",
  logRetentionDays: 90,
  inlinePollSeconds: 20,
  alarmTopicArn: "",
  cleanupOverdueNights: 3,
  hostStepConcurrency: 100,
  artifactDirs: "",
} as const;

/** Context keys the app reads. */
export type ContextKey = keyof typeof CONTEXT_DEFAULTS;

// Same subset the plan-rollout Lambda accepts for tags, so a deployable value is usable.
const TAG_KEY = /^[A-Za-z0-9 _.:/=+@-]{1,128}$/;
const TAG_VALUE = /^[A-Za-z0-9 _.:/=+@-]{1,256}$/;
const SCHEDULE = /^(cron|rate)\(.+\)$/;
const SNS_TOPIC_ARN = /^(|arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?)$/;
// nightly-cleanup validates CLEANUP_OVERDUE_NIGHTS against the same bounds.
const MAX_OVERDUE_NIGHTS = 365;
// host-step validates INLINE_POLL_SECONDS against the same bound; its timeout leaves room.
const MAX_INLINE_POLL_SECONDS = 120;
// The largest batchSize the execution input accepts (RolloutInputSchema).
const MAX_HOST_STEP_CONCURRENCY = 1000;

const RETENTION_VALUES = new Set<number>(
  Object.values(RetentionDays).filter((value): value is number => typeof value === "number"),
);

/**
 * Reads the context knobs from `node` (normally the app's) and validates them; a bad
 * value fails the synth with a message naming the key.
 */
export function readRolloutSettings(node: Node): RolloutSettings {
  const text = (key: ContextKey): string => {
    const value: unknown = node.tryGetContext(key) ?? CONTEXT_DEFAULTS[key];
    return String(value);
  };
  const integer = (key: ContextKey): number => {
    const raw = text(key);
    if (!/^\d+$/.test(raw)) throw new Error(`context ${key}: "${raw}" is not a whole number`);
    return Number(raw);
  };
  const matching = (key: ContextKey, pattern: RegExp): string => {
    const value = text(key);
    if (!pattern.test(value)) throw new Error(`context ${key}: "${value}" must match ${pattern}`);
    return value;
  };

  const logRetentionDays = integer("logRetentionDays");
  if (!RETENTION_VALUES.has(logRetentionDays)) {
    throw new Error(
      `context logRetentionDays: ${logRetentionDays} is not a CloudWatch Logs retention (one of ${[...RETENTION_VALUES].join(", ")})`,
    );
  }
  const inlinePollSeconds = integer("inlinePollSeconds");
  if (inlinePollSeconds > MAX_INLINE_POLL_SECONDS) {
    throw new Error(`context inlinePollSeconds: must be at most ${MAX_INLINE_POLL_SECONDS}`);
  }
  const cleanupOverdueNights = integer("cleanupOverdueNights");
  if (cleanupOverdueNights < 1 || cleanupOverdueNights > MAX_OVERDUE_NIGHTS) {
    throw new Error(`context cleanupOverdueNights: must be between 1 and ${MAX_OVERDUE_NIGHTS}`);
  }
  const alarmTopicArn = matching("alarmTopicArn", SNS_TOPIC_ARN);
  const hostStepConcurrency = integer("hostStepConcurrency");
  if (hostStepConcurrency < 1 || hostStepConcurrency > MAX_HOST_STEP_CONCURRENCY) {
    throw new Error(
      `context hostStepConcurrency: must be 1 to ${MAX_HOST_STEP_CONCURRENCY}, got ${hostStepConcurrency}`,
    );
  }
  return {
    cleanupSchedule: matching("cleanupSchedule", SCHEDULE),
    targetTagKey: matching("targetTagKey", TAG_KEY),
    targetTagValue: matching("targetTagValue", TAG_VALUE),
    profilesDir: projectPath(text("profilesDir")),
    logRetention: logRetentionDays as RetentionDays,
    inlinePollSeconds,
    ...(alarmTopicArn === "" ? {} : { alarmTopicArn }),
    cleanupOverdueNights,
    hostStepConcurrency,
    reserveHostStepConcurrency: node.tryGetContext("hostStepConcurrency") !== undefined,
    artifactDirs: readArtifactDirs(node.tryGetContext("artifactDirs")),
  };
}

/** The `artifactDirs` knob: a list (cdk.json) or a `:`-separated string (`-c`). */
function readArtifactDirs(value: unknown): string[] {
  const list =
    value === undefined || value === null
      ? []
      : Array.isArray(value)
        ? value.map(String)
        : String(value)
            .split(":")
            .filter((dir) => dir !== "");
  for (const dir of list) {
    if (!isArtifactDir(dir)) {
      throw new Error(
        `context artifactDirs: "${dir}" is not an absolute directory (/a/b: no trailing /, no empty, . or .. segment, no control character)`,
      );
    }
  }
  return list;
}

/** `path` made absolute against the project root (absolute paths are kept). */
export function projectPath(path: string): string {
  return isAbsolute(path) ? path : resolve(PROJECT_ROOT, path);
}
