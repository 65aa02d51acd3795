/**
 * Schemas (zod 4) of everything that crosses a Lambda boundary: the execution input,
 * each handler's event, the step state passed between host-step calls and the
 * one-line results printed by the host scripts. Each schema is exported with its
 * inferred type. Shapes follow docs/contracts.md.
 *
 * @module
 */
import { z } from "zod";
import { InvalidInputError } from "./errors.js";
import {
  ARTIFACT_URL_PATTERN,
  hasDotSegment,
  PROFILE_NAME_PATTERN,
  ROLLOUT_ID_PATTERN,
  SHA256_PATTERN,
  VERSION_MAX_LENGTH,
  VERSION_PATTERN,
} from "./patterns.js";

/** A value for an error message: JSON, cut short so a hostile input cannot flood logs. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// ---------------------------------------------------------------------------
// Maps with untrusted keys

/**
 * Keys a map from outside must not carry: zod builds a record by assignment, so
 * `__proto__` (an own property after JSON.parse) would set the result's prototype and
 * vanish from its keys, and `constructor`/`prototype` shadow what code may read.
 */
export const RESERVED_KEYS: readonly string[] = ["__proto__", "constructor", "prototype"];

/** True when `key` is not one of {@link RESERVED_KEYS}. */
export function isPlainKey(key: string): boolean {
  return !RESERVED_KEYS.includes(key);
}

/**
 * `z.record` whose keys must pass `key` and must not be one of {@link RESERVED_KEYS}:
 * every record of untrusted input (the execution input, events, ledger items) is
 * built with it, so a prototype key is refused with its field named. (z.record alone
 * drops an own `__proto__` key without a word, which widens a tag selection.)
 */
export function plainRecord<K extends z.ZodType<string, string>, V extends z.ZodType>(
  key: K,
  value: V,
) {
  return z
    .unknown()
    .superRefine((input, ctx) => {
      if (typeof input !== "object" || input === null) return;
      for (const own of Object.keys(input)) {
        if (!isPlainKey(own)) {
          ctx.addIssue({ code: "custom", path: [own], message: `${show(own)} is a reserved key` });
        }
      }
    })
    .pipe(z.record(key, value));
}

// ---------------------------------------------------------------------------
// Scalars

/** Managed-instance id: EC2 (`i-`) or hybrid (`mi-`). */
export const INSTANCE_ID_PATTERN = /^(i|mi)-[0-9a-f]{8,17}$/;

/** Fleet name: the scope of the fleet lock. */
export const FLEET_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Tag keys and values allowed in a host selection (a safe subset of what AWS accepts). */
export const TAG_KEY_PATTERN = /^[A-Za-z0-9 _.:/=+@-]{1,128}$/;
/** See {@link TAG_KEY_PATTERN}. */
export const TAG_VALUE_PATTERN = /^[A-Za-z0-9 _.:/=+@-]{1,256}$/;

/**
 * CloudWatch alarm name: 1-255 characters (DescribeAlarms `AlarmNames`), here
 * printable ASCII without quotes, backslash or shell metacharacters.
 */
export const ALARM_NAME_PATTERN = /^[A-Za-z0-9 _.:/#+=@()[\],-]{1,255}$/;

/** Agent version, e.g. `2.0.0` or `2.0.0-rc.1`. */
export const VersionSchema = z
  .string()
  .max(VERSION_MAX_LENGTH, { error: `must be at most ${VERSION_MAX_LENGTH} characters` })
  .regex(VERSION_PATTERN, {
    error: (iss) => `${show(iss.input)} is not a version (e.g. 2.0.0 or 2.0.0-rc.1)`,
  });

/** Rollout id: the Step Functions execution name. */
export const RolloutIdSchema = z.string().regex(ROLLOUT_ID_PATTERN, {
  error: (iss) => `${show(iss.input)} is not a rollout id (1-80 of A-Z a-z 0-9 _ -)`,
});

/** Lower-case hex sha256. */
export const Sha256Schema = z.string().regex(SHA256_PATTERN, {
  error: (iss) => `${show(iss.input)} is not a sha256 (64 lower-case hex digits)`,
});

/** Profile name as deployed (`profiles/<name>.profile`). */
export const ProfileNameSchema = z.string().regex(PROFILE_NAME_PATTERN, {
  error: (iss) => `${show(iss.input)} is not a profile name (^[a-z][a-z0-9-]{0,31}$)`,
});

/** Managed-instance id. */
export const InstanceIdSchema = z.string().regex(INSTANCE_ID_PATTERN, {
  error: (iss) => `${show(iss.input)} is not an instance id (i-… or mi-… with 8-17 hex digits)`,
});

/**
 * True when a URL path segment hides a separator (`%2f`, `%5c`) or is not valid
 * percent-encoding: such a segment could turn into a traversal once decoded by
 * whatever fetches the URL, so it is refused along with dot segments.
 */
function hasEncodedSeparator(url: string): boolean {
  const path = url.replace(/^[a-z]+:\/\/[^/]*/, "");
  return path.split("/").some((segment) => {
    try {
      const decoded = decodeURIComponent(segment);
      return decoded.includes("/") || decoded.includes("\\");
    } catch {
      return true;
    }
  });
}

/** Artifact URL: https (or file:// for local mode), no dot segments. */
export const ArtifactUrlSchema = z
  .string()
  .max(2048, { error: "must be at most 2048 characters" })
  .regex(ARTIFACT_URL_PATTERN, {
    error: (iss) =>
      `${show(iss.input)} is not an allowed artifact URL (https://host/path or file:///path)`,
  })
  .refine((url) => !hasDotSegment(url), { error: "must not contain a '.' or '..' path segment" })
  .refine((url) => !hasEncodedSeparator(url), {
    error: "must not contain an encoded '/' or '\\' or a malformed %-escape",
  });

/**
 * Step whose command the ledger records on the host item (`commands`, `stepMs`,
 * `<step>EndedAt`): preflight, stage and switch for a rollout; rollback alone for a
 * whole-rollout rollback, and for a host found not serving after its switch.
 */
export const StepNameSchema = z.enum(["preflight", "stage", "switch", "rollback"]);
/** See {@link StepNameSchema}. */
export type StepName = z.infer<typeof StepNameSchema>;

/**
 * Step run by the host-step Lambda: a recorded step, or `verify`, the read-only check
 * (the Preflight document) that an upgraded host still serves the target. A verify
 * command changes nothing, so it is not recorded and may be sent again on a retry.
 */
export const HostStepNameSchema = z.enum([...StepNameSchema.options, "verify", "revert"]);
/** See {@link HostStepNameSchema}. */
export type HostStepName = z.infer<typeof HostStepNameSchema>;

/** Wave index (waves are numbered from 0; the ledger pads them to 4 digits). */
export const WaveSchema = z.int().min(0).max(9999);

// ---------------------------------------------------------------------------
// Execution input

const InstanceIdListSchema = z
  .array(InstanceIdSchema)
  .min(1, { error: "must list at least one instance" })
  .max(10_000, { error: "must list at most 10000 instances" })
  .superRefine((ids, ctx) => {
    const seen = new Set<string>();
    ids.forEach((id, index) => {
      if (seen.has(id)) {
        ctx.addIssue({ code: "custom", path: [index], message: `duplicate host ${id}` });
      }
      seen.add(id);
    });
  });

const TagFilterSchema = plainRecord(
  z.string().regex(TAG_KEY_PATTERN, {
    error: (iss) => `${show(iss.input)} is not an allowed tag key`,
  }),
  z.string().regex(TAG_VALUE_PATTERN, {
    error: (iss) => `${show(iss.input)} is not an allowed tag value`,
  }),
)
  .refine((tags) => Object.keys(tags).length >= 1, { error: "must hold at least one tag" })
  .refine((tags) => Object.keys(tags).length <= 5, { error: "must hold at most 5 tags" });

/** Host selection: an explicit list (order kept) or a tag filter. */
export const HostSelectionSchema = z
  .strictObject({
    instanceIds: InstanceIdListSchema.optional(),
    tags: TagFilterSchema.optional(),
  })
  .superRefine((hosts, ctx) => {
    if (hosts.instanceIds === undefined && hosts.tags === undefined) {
      ctx.addIssue({ code: "custom", message: "give instanceIds or tags" });
    }
    if (hosts.instanceIds !== undefined && hosts.tags !== undefined) {
      ctx.addIssue({ code: "custom", message: "give instanceIds or tags, not both" });
    }
  });
/** See {@link HostSelectionSchema}. */
export type HostSelection = z.infer<typeof HostSelectionSchema>;

/**
 * One entry of `waves`: a host count, or a percentage of the fleet (rounded up, at
 * least one host), as in Ansible's `serial` list.
 */
export const WaveSizeSchema = z.union([
  z.int().min(1).max(10_000),
  z.string().regex(/^([1-9][0-9]?|100)%$/, {
    error: (iss) => `${show(iss.input)} is not a wave size (a count, or "1%" to "100%")`,
  }),
]);
/** See {@link WaveSizeSchema}. */
export type WaveSize = z.infer<typeof WaveSizeSchema>;

/** Default of `waveSize` when the waves are given as `canary` and `waveSize`. */
export const DEFAULT_WAVE_SIZE = 100;

/**
 * The approval gate: after each wave of `afterWaves` (that is not the last) the
 * execution waits up to `timeoutSeconds` for `approve`/`reject` (SendTaskSuccess or
 * SendTaskFailure on the token recorded on the rollout item).
 */
export const ApprovalSchema = z.strictObject({
  afterWaves: z
    .array(z.int().min(0).max(9999))
    .min(1, { error: "must list at least one wave" })
    .max(100, { error: "must list at most 100 waves" }),
  timeoutSeconds: z.int().min(60).max(604_800).default(86_400),
});
/** See {@link ApprovalSchema}. */
export type Approval = z.infer<typeof ApprovalSchema>;

/** Step Functions task token (up to 1024 characters as documented; 2048 accepted). */
export const TaskTokenSchema = z.string().min(1).max(2048);

/**
 * RecordApprovalToken (the evaluate-wave function, `.waitForTaskToken`):
 * `{action: "recordApprovalToken", rolloutId, wave, taskToken: $$.Task.Token}`.
 */
export const ApprovalTokenEventSchema = z.strictObject({
  action: z.literal("recordApprovalToken"),
  rolloutId: RolloutIdSchema,
  wave: WaveSchema,
  /** How long the execution waits (the task's TimeoutSecondsPath). */
  timeoutSeconds: z.int().min(1).max(604_800).optional(),
  taskToken: TaskTokenSchema,
});
/** See {@link ApprovalTokenEventSchema}. */
export type ApprovalTokenEvent = z.infer<typeof ApprovalTokenEventSchema>;

/** The execution input's fields (see {@link RolloutInputSchema}). */
const RolloutInputObjectSchema = z.strictObject({
  targetVersion: VersionSchema,
  artifact: z.strictObject({ url: ArtifactUrlSchema, sha256: Sha256Schema }),
  profile: ProfileNameSchema,
  hosts: HostSelectionSchema,
  batchSize: z.int().min(1).max(1000),
  canary: z.int().min(0).max(100).optional(),
  waveSize: z.int().min(1).max(1000).optional(),
  ...RolloutControlsShape(),
  failureThreshold: z.int().min(0).max(10_000).default(0),
  bakeSeconds: z.int().min(0).max(86_400).default(0),
  dryRun: z.boolean().default(false),
  fleet: z
    .string()
    .regex(FLEET_PATTERN, {
      error: (iss) => `${show(iss.input)} is not a fleet name (1-64 of A-Z a-z 0-9 _ -)`,
    })
    .default("default"),
  lockTtlSeconds: z.int().min(300).max(604_800).default(43_200),
  breakLock: RolloutIdSchema.optional(),
});

/**
 * The execution input (docs/contracts.md, "State machine data"). Unknown fields are
 * refused. The waves are `canary` + `waveSize` (default 100) or `waves`, never both.
 */
export const RolloutInputSchema = RolloutInputObjectSchema.superRefine(checkWaveFields).transform(
  (input) => {
    if (input.waves !== undefined || input.waveSize !== undefined) return input;
    // Fields in the schema's order, as a parse of the stored input gives them back
    // (PlanRollout compares the two as JSON to recognise its own retry).
    const filled: Record<string, unknown> = { ...input, waveSize: DEFAULT_WAVE_SIZE };
    const ordered = Object.keys(RolloutInputObjectSchema.shape)
      .filter((key) => filled[key] !== undefined)
      .map((key) => [key, filled[key]]);
    return Object.fromEntries(ordered) as typeof input;
  },
);
/** Validated execution input, defaults applied. */
export type RolloutInput = z.infer<typeof RolloutInputSchema>;

/**
 * The execution input of a whole-rollout rollback: `{"rollback": "<rolloutId>"}`. Every
 * host that rollout upgraded returns to the release it ran before, in the waves and
 * under the thresholds of that rollout; `dryRun` and `breakLock` as for a rollout.
 */
export const RollbackInputSchema = z.strictObject({
  rollback: RolloutIdSchema,
  dryRun: z.boolean().default(false),
  breakLock: RolloutIdSchema.optional(),
});
/** See {@link RollbackInputSchema}. */
export type RollbackInput = z.infer<typeof RollbackInputSchema>;

/** What a rollout does to each host: the rollout steps, or the rollback step. */
export const RolloutModeSchema = z.enum(["rollout", "rollback"]);
/** See {@link RolloutModeSchema}. */
export type RolloutMode = z.infer<typeof RolloutModeSchema>;

// ---------------------------------------------------------------------------
// Rollout controls: growing waves and the gates (docs/contracts.md, "Rollout controls")

/** The fields of the execution input that shape the waves and gate the rollout. */
function RolloutControlsShape() {
  return {
    waves: z
      .array(WaveSizeSchema)
      .min(1, { error: "must list at least one wave size" })
      .max(100, { error: "must list at most 100 wave sizes" })
      .optional(),
    /** A host whose switch suspended its jobs longer than this counts as a failure. */
    maxSuspendMs: z.int().min(1).max(3_600_000).optional(),
    /** CloudWatch alarms read before each host starts and at each wave's end. */
    alarms: z
      .array(
        z.string().regex(ALARM_NAME_PATTERN, {
          error: (iss) => `${show(iss.input)} is not a CloudWatch alarm name`,
        }),
      )
      .min(1, { error: "must name at least one alarm" })
      .max(10, { error: "must name at most 10 alarms" })
      .optional(),
    /** Waves after which the execution waits for an operator's approval (a task token). */
    approval: ApprovalSchema.optional(),
    /**
     * Host order: `planned` (absent: the hosts' order, as today) or `fewest-jobs`: at
     * each wave, the hosts not started yet report their job count and idle ones go first.
     */
    order: z.enum(["planned", "fewest-jobs"]).optional(),
  };
}

/** `canary`/`waveSize` and `waves` are two ways to say the same thing: one of them. */
function checkWaveFields(
  input: { canary?: number; waveSize?: number; waves?: unknown[] },
  ctx: z.RefinementCtx,
): void {
  if (input.waves !== undefined) {
    for (const field of ["canary", "waveSize"] as const) {
      if (input[field] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: "give canary/waveSize or waves, not both",
        });
      }
    }
  } else if (input.canary === undefined) {
    ctx.addIssue({ code: "custom", path: ["canary"], message: "required (or give waves)" });
  }
}

// ---------------------------------------------------------------------------
// Handler events

/**
 * PlanRollout: `{input.$: $, rolloutId.$: $$.Execution.Name, executionArn.$: $$.Execution.Id}`;
 * `input` is checked by {@link RolloutInputSchema}.
 */
export const PlanRolloutEventSchema = z.strictObject({
  rolloutId: RolloutIdSchema,
  input: z.unknown(),
  /**
   * `$$.Execution.Id`: this execution's ARN. A `breakLock` owner's execution is its
   * sibling under the same state machine, asked whether it still runs.
   */
  executionArn: z
    .string()
    .regex(
      /^arn:[a-z-]+:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$/,
      {
        error: "is not an execution ARN",
      },
    )
    .optional(),
});
/** See {@link PlanRolloutEventSchema}. */
export type PlanRolloutEvent = z.infer<typeof PlanRolloutEventSchema>;

/** LoadWaveHosts and EvaluateWave: `{rolloutId, wave}`. */
export const WaveEventSchema = z.strictObject({ rolloutId: RolloutIdSchema, wave: WaveSchema });
/** See {@link WaveEventSchema}. */
export type WaveEvent = z.infer<typeof WaveEventSchema>;

/** LoadWaveHosts event. */
export const LoadWaveEventSchema = WaveEventSchema;
/** See {@link LoadWaveEventSchema}. */
export type LoadWaveEvent = WaveEvent;

/**
 * EvaluateWave event: `{rolloutId, wave, previousDecision: $.evaluation.decision}`. The
 * decision in the state before the evaluation says which one this is: `BAKE` after the
 * wave's bake, anything else (or absent) right after the wave's hosts were upgraded.
 */
export const EvaluateWaveEventSchema = WaveEventSchema.extend({
  previousDecision: z.enum(["CONTINUE", "BAKE", "HALT", "DONE"]).optional(),
});
/** What the evaluate-wave function accepts: EvaluateWave's event or RecordApprovalToken's. */
export const EvaluateWaveFunctionEventSchema = z.union([
  EvaluateWaveEventSchema,
  ApprovalTokenEventSchema,
]);
/** See {@link EvaluateWaveEventSchema}. */
export type EvaluateWaveEvent = z.infer<typeof EvaluateWaveEventSchema>;

/** A host as the Map item selector passes it. */
export const HostRefSchema = z.strictObject({
  rolloutId: RolloutIdSchema,
  wave: WaveSchema,
  hostId: InstanceIdSchema,
  instanceId: InstanceIdSchema,
});
/** See {@link HostRefSchema}. */
export type HostRef = z.infer<typeof HostRefSchema>;

/** Small summary values: never the job items. */
const SummaryValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** What host-step returns and receives back on poll (docs/contracts.md, `StepState`). */
export const StepStateSchema = z.strictObject({
  step: HostStepNameSchema,
  /** Absent only when the preflight gate halted the host before anything was sent. */
  commandId: z.string().min(1).max(64).optional(),
  done: z.boolean(),
  waitSeconds: z.int().min(0).max(3600),
  sentAt: z.iso.datetime().optional(),
  /** The script's result status, or HALTED from the preflight gate. */
  status: z.string().max(32).optional(),
  summary: plainRecord(z.string(), SummaryValueSchema).optional(),
});
/** See {@link StepStateSchema}. */
export type StepState = z.infer<typeof StepStateSchema>;

/** The StepState a poll carries: the command sent, so its id is required. */
const PollCommandSchema = StepStateSchema.extend({
  commandId: z.string().min(1).max(64),
});

/** host-step event: send a step's command, or poll the one in `command`. */
export const HostStepEventSchema = z
  .discriminatedUnion("action", [
    z.strictObject({
      action: z.literal("send"),
      step: HostStepNameSchema,
      host: HostRefSchema,
      command: StepStateSchema.optional(),
    }),
    z.strictObject({
      action: z.literal("poll"),
      step: HostStepNameSchema,
      host: HostRefSchema,
      command: PollCommandSchema,
    }),
  ])
  .superRefine((event, ctx) => {
    if (event.action === "poll" && event.command.step !== event.step) {
      ctx.addIssue({
        code: "custom",
        path: ["command", "step"],
        message: `is ${event.command.step}, expected ${event.step}`,
      });
    }
  });
/** See {@link HostStepEventSchema}. */
export type HostStepEvent = z.infer<typeof HostStepEventSchema>;

/** Error object as a Step Functions Catch puts it in the state. */
export const StatesErrorSchema = z.object({
  Error: z.string().max(1024),
  Cause: z.string().max(262_144).optional(),
});
/** See {@link StatesErrorSchema}. */
export type StatesError = z.infer<typeof StatesErrorSchema>;

/** record-host event: the host's step results, or the error that ended its item processor. */
export const RecordHostEventSchema = z.discriminatedUnion("outcome", [
  z.strictObject({
    outcome: z.literal("result"),
    /** Seeded by the Map's item selector from the plan. */
    mode: RolloutModeSchema.optional(),
    host: HostRefSchema,
    preflight: StepStateSchema.optional(),
    stage: StepStateSchema.optional(),
    switch: StepStateSchema.optional(),
    rollback: StepStateSchema.optional(),
  }),
  z.strictObject({
    outcome: z.literal("failure"),
    host: HostRefSchema,
    error: StatesErrorSchema,
  }),
  /**
   * RecordStoppedServing: an upgraded host the verification found not serving, and
   * its rollback (host-step step `revert`): the step state, or the error that ended it
   * (`revertError`).
   */
  z.strictObject({
    outcome: z.literal("stoppedServing"),
    host: HostRefSchema,
    verify: StepStateSchema,
    revert: StepStateSchema.optional(),
    revertError: StatesErrorSchema.optional(),
  }),
  /** RecordVerifyFailure: an upgraded host whose verification could not run. */
  z.strictObject({
    outcome: z.literal("unverified"),
    host: HostRefSchema,
    error: StatesErrorSchema,
  }),
]);
/** See {@link RecordHostEventSchema}. */
export type RecordHostEvent = z.infer<typeof RecordHostEventSchema>;

/** finish-rollout event: FinishRollout (DONE/HALTED) and RecordRolloutFailure (FAILED). */
export const FinishRolloutEventSchema = z.strictObject({
  rolloutId: RolloutIdSchema,
  outcome: z.enum(["DONE", "HALTED", "FAILED"]),
  error: StatesErrorSchema.optional(),
  /** HALTED: why (EvaluateWave's reason, or the approval gate's), kept as `haltReason`. */
  reason: z.string().max(262_144).optional(),
});
/** See {@link FinishRolloutEventSchema}. */
export type FinishRolloutEvent = z.infer<typeof FinishRolloutEventSchema>;

/** nightly-cleanup event: the EventBridge scheduled event (content unused) or `{}` on demand. */
export const NightlyCleanupEventSchema = z.looseObject({});
/** See {@link NightlyCleanupEventSchema}. */
export type NightlyCleanupEvent = z.infer<typeof NightlyCleanupEventSchema>;

// ---------------------------------------------------------------------------
// Host script result lines (docs/contracts.md, "Host scripts"). Unknown fields are
// dropped rather than refused so that a newer script does not break an older Lambda.

const OptionalText = z.string().max(4096).nullish();
const OptionalCount = z.number().nonnegative().nullish();

/** A job as the switch reports it: `[jobId, pid, startTicks]`. */
export const JobEntrySchema = z.tuple([
  z.string().regex(/^\S{1,256}$/),
  z.int().nonnegative(),
  z.int().nonnegative(),
]);
/** See {@link JobEntrySchema}. */
export type JobEntry = z.infer<typeof JobEntrySchema>;

/** preflight result. */
export const PreflightResultSchema = z.object({
  step: z.literal("preflight"),
  status: z.enum(["READY", "SKIPPED"]),
  currentVersion: OptionalText,
  targetVersion: OptionalText,
  freeMb: OptionalCount,
  /** READY on the target: why the host does not serve it (what a switch must repair). */
  reason: OptionalText,
  /**
   * SKIPPED: the other rollouts whose switch record on the host names the target and a
   * release they left (host/scripts/lib/snapshot.sh, `ar_switch_records`).
   */
  switchRecords: z.array(RolloutIdSchema).max(20).optional(),
});
/** See {@link PreflightResultSchema}. */
export type PreflightResult = z.infer<typeof PreflightResultSchema>;

/** preflight result with `mode=jobCount`: how many jobs the agent runs. */
export const JobCountResultSchema = z.object({
  step: z.literal("preflight"),
  status: z.literal("COUNTED"),
  currentVersion: OptionalText,
  jobCount: z.int().nonnegative(),
  declaredNone: z.boolean().optional(),
});
/** See {@link JobCountResultSchema}. */
export type JobCountResult = z.infer<typeof JobCountResultSchema>;

/** stage result. */
export const StageResultSchema = z.object({
  step: z.literal("stage"),
  status: z.enum(["STAGED", "ALREADY_STAGED"]),
  release: OptionalText,
  sha256: z.string().nullish(),
  durationMs: OptionalCount,
  /** ALREADY_STAGED: a release it did not stage, adopted as it is (a vendor's first install). */
  reason: OptionalText,
});
/** See {@link StageResultSchema}. */
export type StageResult = z.infer<typeof StageResultSchema>;

/** switch result, job snapshot included. */
export const SwitchResultSchema = z.object({
  step: z.literal("switch"),
  status: z.enum(["SWITCHED", "UNCHANGED", "ROLLED_BACK"]),
  fromVersion: OptionalText,
  toVersion: OptionalText,
  currentVersion: OptionalText,
  oldRelease: OptionalText,
  switchMode: OptionalText,
  suspendMs: OptionalCount,
  listenerGapMs: OptionalCount,
  /** Client-seen: how long the probe found the port refusing connections. */
  unservedMs: OptionalCount,
  refused: OptionalCount,
  healthMs: OptionalCount,
  configureReport: OptionalText,
  reason: OptionalText,
  /** ROLLED_BACK: the target release, staged and tried but never served (for cleanup). */
  abandonedRelease: OptionalText,
  jobs: z
    .object({
      count: z.int().nonnegative(),
      /** null when no snapshot was taken (UNCHANGED on a host this rollout did not switch). */
      sha256: Sha256Schema.nullable(),
      items: z.array(JobEntrySchema),
      /** hook.listJobs=none: empty by declaration. */
      declaredNone: z.boolean().optional(),
    })
    .nullish(),
});
/** See {@link SwitchResultSchema}. */
export type SwitchResult = z.infer<typeof SwitchResultSchema>;

/** rollback result (the Rollback document); a job snapshot when it rolled back as asked. */
export const RollbackResultSchema = SwitchResultSchema.pick({
  fromVersion: true,
  toVersion: true,
  currentVersion: true,
  oldRelease: true,
  switchMode: true,
  suspendMs: true,
  listenerGapMs: true,
  unservedMs: true,
  refused: true,
  reason: true,
  jobs: true,
}).extend({
  step: z.literal("rollback"),
  status: z.enum(["ROLLED_BACK", "UNCHANGED", "SKIPPED"]),
});
/** See {@link RollbackResultSchema}. */
export type RollbackResult = z.infer<typeof RollbackResultSchema>;

/** cleanup result. */
export const CleanupResultSchema = z.object({
  step: z.literal("cleanup"),
  status: z.enum(["DELETED", "KEPT", "ALREADY_DELETED"]),
  release: OptionalText,
  alive: OptionalCount,
  reason: OptionalText,
});
/** See {@link CleanupResultSchema}. */
export type CleanupResult = z.infer<typeof CleanupResultSchema>;

// ---------------------------------------------------------------------------
// Error messages

/** `hosts.instanceIds[2]` from a zod path; the root is named `prefix` or "(event)". */
export function formatPath(path: readonly PropertyKey[], prefix = ""): string {
  let text = prefix;
  for (const key of path) {
    if (typeof key === "number") text += `[${key}]`;
    else text += text === "" ? String(key) : `.${String(key)}`;
  }
  return text === "" ? "(event)" : text;
}

/**
 * One readable line per issue, each starting with the field path: the operator reads
 * these in the Step Functions console as the cause of `InvalidInputError`.
 * Expects issues parsed with `reportInput: true` so a missing field says "required".
 */
export function formatIssues(error: z.ZodError, prefix = ""): string {
  const lines: string[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        lines.push(`${formatPath([...issue.path, key], prefix)}: unknown field`);
      }
    } else if (issue.code === "invalid_type" && issue.input === undefined) {
      lines.push(`${formatPath(issue.path, prefix)}: required`);
    } else if (issue.code === "invalid_key") {
      lines.push(`${formatPath(issue.path, prefix)}: ${issue.issues[0]?.message ?? issue.message}`);
    } else if (issue.code === "invalid_union" && "note" in issue && issue.note !== undefined) {
      // A discriminated union whose discriminator matches no option.
      lines.push(`${formatPath(issue.path, prefix)}: ${String(issue.note).toLowerCase()}`);
    } else {
      lines.push(`${formatPath(issue.path, prefix)}: ${issue.message}`);
    }
  }
  const shown = lines.slice(0, 10);
  if (lines.length > shown.length) shown.push(`(${lines.length - shown.length} more)`);
  return shown.join("; ");
}

/**
 * Parses `value` with `schema` or throws {@link InvalidInputError} whose message names
 * every offending field.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix = "",
): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) throw new InvalidInputError(formatIssues(result.error, prefix));
  return result.data;
}
