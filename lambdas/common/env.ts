/**
 * Environment of each function, validated with zod. Handlers read it once, at their
 * first invocation (not at module load, so local mode and tests can import a handler
 * before setting the variables); a missing or malformed variable fails that
 * invocation with a {@link ConfigurationError} naming the variable.
 *
 * @module
 */
import { z } from "zod";
import { DOCUMENT_PREFIX_PATTERN } from "./document-names.js";
import { ConfigurationError } from "./errors.js";
import { DEFAULT_OVERDUE_NIGHTS } from "./metrics.js";
import { isArtifactDir, PROFILE_NAME_PATTERN } from "./patterns.js";
import { TAG_KEY_PATTERN, TAG_VALUE_PATTERN } from "./schemas.js";

const Name = z.string().min(1);
const OptionalUrl = z.url().optional();
/** Prefix of the hosts' document names (`<prefix>-<Step>-<profile>`, see `document-names.ts`). */
const DocumentPrefix = z
  .string()
  .regex(DOCUMENT_PREFIX_PATTERN, "is not a document name prefix (1-80 of A-Z a-z 0-9 _ . -)");
const BucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "is not a bucket name");

/** Variables every function accepts. */
export const BaseEnvSchema = z.object({
  TABLE_NAME: Name,
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  AWS_REGION: z.string().optional(),
  ENDPOINT_SSM: OptionalUrl,
  ENDPOINT_DYNAMODB: OptionalUrl,
  ENDPOINT_S3: OptionalUrl,
  ENDPOINT_CLOUDWATCH: OptionalUrl,
});
/** See {@link BaseEnvSchema}. */
export type BaseEnv = z.infer<typeof BaseEnvSchema>;

/** plan-rollout. */
export const PlanRolloutEnvSchema = BaseEnvSchema.extend({
  /** Comma-separated profile names deployed with the stack. */
  PROFILE_NAMES: z
    .string()
    .transform((text) =>
      text
        .split(",")
        .map((name) => name.trim())
        .filter((name) => name !== ""),
    )
    .pipe(z.array(z.string().regex(PROFILE_NAME_PATTERN, "holds an invalid profile name")).min(1)),
  /** Only instances carrying this tag can be targeted (with {@link TARGET_TAG_VALUE}). */
  TARGET_TAG_KEY: z.string().regex(TAG_KEY_PATTERN, "is not a tag key"),
  TARGET_TAG_VALUE: z.string().regex(TAG_VALUE_PATTERN, "is not a tag value"),
  /** The stack's bound on host-step invocations in flight: the largest `batchSize` accepted. */
  HOST_STEP_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(100),
  /**
   * Colon-separated absolute directories file:// artifacts may come from (the stack's
   * `artifactDirs`); unset: file:// artifacts are refused.
   */
  ARTIFACT_DIRS: z
    .string()
    .default("")
    .transform((text) => text.split(":").filter((dir) => dir !== ""))
    .pipe(
      z.array(
        z
          .string()
          .refine(isArtifactDir, "holds a directory that is not absolute or has a dot segment"),
      ),
    ),
});
/** See {@link PlanRolloutEnvSchema}. */
export type PlanRolloutEnv = z.infer<typeof PlanRolloutEnvSchema>;

/** load-wave. */
export const LoadWaveEnvSchema = BaseEnvSchema.extend({
  /** A fewest-jobs rollout's probe is `<DOCUMENT_PREFIX>-Preflight-<profile>`, `mode=jobCount`. */
  DOCUMENT_PREFIX: DocumentPrefix,
  /** How long a fewest-jobs wave waits for the hosts' job counts. */
  JOB_COUNT_SECONDS: z.coerce.number().int().min(5).max(120).default(60),
});
/** See {@link LoadWaveEnvSchema}. */
export type LoadWaveEnv = z.infer<typeof LoadWaveEnvSchema>;

/** host-step. */
export const HostStepEnvSchema = BaseEnvSchema.extend({
  /** The step's document is `<DOCUMENT_PREFIX>-<Step>-<profile>`, profile the rollout's. */
  DOCUMENT_PREFIX: DocumentPrefix,
  OUTPUT_BUCKET: BucketName,
  /** How long one invocation keeps polling before handing back to a Wait state. */
  INLINE_POLL_SECONDS: z.coerce.number().int().min(0).max(120).default(20),
  /** SendCommand `TimeoutSeconds`: how long SSM tries to deliver to an offline host. */
  DELIVERY_TIMEOUT_SECONDS: z.coerce.number().int().min(30).max(2_592_000).default(600),
});
/** See {@link HostStepEnvSchema}. */
export type HostStepEnv = z.infer<typeof HostStepEnvSchema>;

/** nightly-cleanup. */
export const NightlyCleanupEnvSchema = BaseEnvSchema.extend({
  /** The cleanup document is `<DOCUMENT_PREFIX>-Cleanup-<profile>`, profile the snapshot's. */
  DOCUMENT_PREFIX: DocumentPrefix,
  OUTPUT_BUCKET: BucketName,
  /** Delivery timeout of the cleanup command; short, as an offline host is retried next night. */
  DELIVERY_TIMEOUT_SECONDS: z.coerce.number().int().min(30).max(2_592_000).default(60),
  /** Hosts cleaned in parallel (one command at a time per host). */
  CLEANUP_CONCURRENCY: z.coerce.number().int().min(1).max(50).default(8),
  /**
   * A snapshot still pending after a run and older than this many nights counts in
   * the `SnapshotsOverdue` metric (the overdue-cleanup alarm's).
   */
  CLEANUP_OVERDUE_NIGHTS: z.coerce.number().int().min(1).max(365).default(DEFAULT_OVERDUE_NIGHTS),
});
/** See {@link NightlyCleanupEnvSchema}. */
export type NightlyCleanupEnv = z.infer<typeof NightlyCleanupEnvSchema>;

/**
 * The one env schema of each function, by its folder under `lambdas/`: the handler
 * validates its environment with it (`defineHandler` in `handler.ts`), and the CDK construct
 * types the environment it sets from it, so a variable renamed here breaks the build
 * of the stack.
 */
export const FUNCTION_ENV_SCHEMAS = {
  "plan-rollout": PlanRolloutEnvSchema,
  "load-wave": LoadWaveEnvSchema,
  "host-step": HostStepEnvSchema,
  "record-host": BaseEnvSchema,
  "evaluate-wave": BaseEnvSchema,
  "finish-rollout": BaseEnvSchema,
  "nightly-cleanup": NightlyCleanupEnvSchema,
} as const;

/** A function's folder name under `lambdas/`. */
export type FunctionName = keyof typeof FUNCTION_ENV_SCHEMAS;

/** Env schema of function `N`. */
export type FunctionEnvSchema<N extends FunctionName> = (typeof FUNCTION_ENV_SCHEMAS)[N];

/** The validated environment of function `N`. */
export type FunctionEnv<N extends FunctionName> = z.output<FunctionEnvSchema<N>>;

/**
 * Parses the environment or throws a {@link ConfigurationError} that names each bad
 * variable, e.g. `environment: TABLE_NAME is required`.
 */
export function loadEnv<S extends z.ZodType>(
  schema: S,
  source: Record<string, string | undefined> = process.env,
): z.output<S> {
  const result = schema.safeParse(source, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.map(String).join(".");
    return issue.code === "invalid_type" && issue.input === undefined
      ? `${name} is required`
      : `${name} ${issue.message}`;
  });
  throw new ConfigurationError(`environment: ${problems.join("; ")}`);
}
