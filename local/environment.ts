import { appendFileSync, mkdirSync, rmSync } from "node:fs";
import { copyFile, readdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InvokeStore, InvokeStoreBase } from "@aws/lambda-invoke-store";
import { type LocalCloudWatch, startLocalCloudWatch } from "./cloudwatch.js";
import {
  createTableFromTemplate,
  type DynamoMeter,
  type LocalDynamo,
  startLocalDynamo,
} from "./dynamo.js";
import { localExecutionStatus, trackExecutionsIn } from "./executions.js";
import { type Fleet, openFleet } from "./fleet.js";
import { lambdaContext } from "./lambda-context.js";
import type { LedgerLocation } from "./ledger-view.js";
import { type LocalSsm, startLocalSsm } from "./ssm/index.js";
import { synthesizeRollout } from "./synthesize.js";

const repoRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** Names local mode gives the resources the stack would create. */
const LOCAL_TABLE = "agent-rollout-ledger";
const LOCAL_BUCKET = "agent-rollout-command-output";

type LambdaHandler = (event: unknown, context: unknown) => Promise<unknown>;

/** Every function of the stack, by the handler name its CDK metadata carries. */
const HANDLER_MODULES: Record<string, () => Promise<{ handler: unknown }>> = {
  "plan-rollout": () => import("../lambdas/plan-rollout/index.js"),
  "load-wave": () => import("../lambdas/load-wave/index.js"),
  "host-step": () => import("../lambdas/host-step/index.js"),
  "record-host": () => import("../lambdas/record-host/index.js"),
  "evaluate-wave": () => import("../lambdas/evaluate-wave/index.js"),
  "finish-rollout": () => import("../lambdas/finish-rollout/index.js"),
  "nightly-cleanup": () => import("../lambdas/nightly-cleanup/index.js"),
};

/** A running local stand-in for the AWS side, plus the fleet it manages. */
export interface LocalEnvironment {
  readonly workDir: string;
  /** Where the handlers' log lines and EMF metrics go (`LAMBDA_LOG_FILE`). */
  readonly lambdaLogFile: string;
  /** Plain ASL of the rollout state machine, as synthesized from the CDK app. */
  readonly definition: object;
  readonly stateMachineName: string;
  /** Task state name -> the real handler, invoked in process. */
  readonly taskHandlers: Record<string, (input: unknown) => Promise<unknown>>;
  /** Profile name the rollout input names. */
  readonly profile: string;
  readonly ledger: LedgerLocation;
  readonly ssm: LocalSsm;
  /** The CloudWatch stand-in the alarm gate reads (set alarms with `setAlarm`). */
  readonly cloudWatch: LocalCloudWatch;
  readonly fleet: Fleet;
  /** Invokes one handler by name (the nightly cleanup, for instance). */
  invoke(handlerName: string, event: unknown): Promise<unknown>;
  /** DynamoDB request and capacity counters, when `instrumentation.meterDynamo` was set. */
  readonly dynamoMeter?: DynamoMeter;
  close(): Promise<void>;
}

/** One handler invocation, as {@link Instrumentation.onInvoke} reports it. */
export interface HandlerCall {
  /** Handler (function) name, e.g. `host-step`. */
  readonly handler: string;
  /** Task state that invoked it; absent for a direct {@link LocalEnvironment.invoke}. */
  readonly state?: string;
  /** Epoch ms when the handler was called. */
  readonly startedAt: number;
  /** Wall time of the handler, ms (what Lambda would bill, init excluded). */
  readonly durationMs: number;
  readonly event: unknown;
  /** The handler's result; absent when it threw. */
  readonly result?: unknown;
  /** What the handler threw, if it did. */
  readonly error?: unknown;
}

/** Opt-in measurement hooks for benchmarks; nothing is measured without them. */
export interface Instrumentation {
  /** Called after every handler invocation, successful or not. */
  readonly onInvoke?: (call: HandlerCall) => void;
  /** Count DynamoDB requests and capacity units ({@link LocalEnvironment.dynamoMeter}). */
  readonly meterDynamo?: boolean;
}

/** Options of {@link startEnvironment}. */
export interface EnvironmentOptions {
  readonly workDir: string;
  /**
   * A profile file to deploy beside the shipped ones, which the rollout then names.
   * @default the fleet kit's profile
   */
  readonly profileFile?: string;
  /** How long an offline host keeps a command pending before SSM gives up. @default 3000 */
  readonly deliveryTimeoutMs?: number;
  /** Caps every SSM step's execution timeout (see `LocalSsmOptions.stepTimeoutCapSeconds`). */
  readonly stepTimeoutCapSeconds?: number;
  /** Extra log sink for progress lines of the SSM endpoint. */
  readonly log?: (line: string) => void;
  /** Extra CDK context for the synthesized app (a knob such as `inlinePollSeconds`). */
  readonly context?: Record<string, unknown>;
  /** Measurement hooks (benchmarks). */
  readonly instrumentation?: Instrumentation;
}

/**
 * Starts the local stand-ins for DynamoDB and SSM, opens the fleet found in the
 * work directory, and maps every Lambda task of the synthesized state machine to
 * its real handler with AWS clients pointed at 127.0.0.1.
 */
export async function startEnvironment(options: EnvironmentOptions): Promise<LocalEnvironment> {
  const workDir = resolve(options.workDir);
  const logsDir = join(workDir, "logs");
  mkdirSync(logsDir, { recursive: true });
  const profilesDir = join(workDir, "profiles");
  // A kept work dir may hold the profiles of an earlier run: the stack deploys only
  // what this run's directory holds.
  rmSync(profilesDir, { recursive: true, force: true });
  mkdirSync(profilesDir, { recursive: true });
  const fleet = await openFleet(workDir);
  // The local stack deploys the profile the fleet runs: its kit's, or an explicit file
  // (a variant for a test or a benchmark); every shipped profile when there is neither.
  // Every SSM document embeds every deployed profile, so a kit's profile comes in
  // without pushing the shipped ones past the document size limit.
  const profileFile = options.profileFile ?? fleet.kit?.profileFile;
  let profile = "demo";
  if (profileFile) {
    const name = basename(profileFile).replace(/\.profile$/, "");
    await copyFile(profileFile, join(profilesDir, `${name}.profile`));
    profile = name;
  } else {
    for (const file of await readdir(join(repoRoot, "profiles"))) {
      if (file.endsWith(".profile"))
        await copyFile(join(repoRoot, "profiles", file), join(profilesDir, file));
    }
  }

  // The fleet serves its releases from <workDir>/artifacts (local/fleet.ts): the one
  // directory file:// artifacts may come from, as the stack's artifactDirs knob says.
  const synth = synthesizeRollout({
    profilesDir,
    context: { artifactDirs: [join(workDir, "artifacts")], ...options.context },
  });

  const cleanups: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    const dynamo: LocalDynamo = await startLocalDynamo(join(workDir, "ledger"), {
      meter: options.instrumentation?.meterDynamo,
      indexKeyAttributes: indexPartitionKeys(synth.tableProperties),
    });
    cleanups.push(() => dynamo.close());
    await createTableFromTemplate(dynamo.endpoint, LOCAL_TABLE, synth.tableProperties);

    const cloudWatch = await startLocalCloudWatch();
    cleanups.push(() => cloudWatch.close());

    const ssmLog = join(logsDir, "ssm.log");
    const ssm = await startLocalSsm({
      documents: synth.documents,
      hosts: fleet.hosts.map((h) => ({
        instanceId: h.instanceId,
        hostRoot: h.hostRoot,
        computerName: h.computerName,
        tags: h.tags,
        state: h.state,
      })),
      outputDir: join(workDir, "ssm-output"),
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? 3_000,
      stepTimeoutCapSeconds: options.stepTimeoutCapSeconds,
      log: (line) => {
        appendFileSync(ssmLog, `${new Date().toISOString()} ${line}\n`);
        options.log?.(line);
      },
    });
    cleanups.push(() => ssm.close());

    // The handlers read their configuration from the environment, as on Lambda.
    for (const vars of Object.values(synth.functionEnvironments)) Object.assign(process.env, vars);
    Object.assign(process.env, {
      TABLE_NAME: LOCAL_TABLE,
      OUTPUT_BUCKET: LOCAL_BUCKET,
      ENDPOINT_DYNAMODB: dynamo.endpoint,
      ENDPOINT_SSM: ssm.endpoint,
      ENDPOINT_S3: ssm.endpoint,
      ENDPOINT_CLOUDWATCH: cloudWatch.endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      LAMBDA_LOG_FILE: join(logsDir, "lambdas.log"),
      // Handlers run concurrently in this one process (a Map's hosts in parallel), as
      // on a Lambda managed instance: Powertools then keeps each invocation's log keys
      // and metrics apart in the invoke store, which the runtime would provide.
      AWS_LAMBDA_MAX_CONCURRENCY: "64",
    });
    const invokeStore = await InvokeStore.getInstanceAsync(true);

    const handlers = new Map<string, LambdaHandler>();
    for (const name of new Set(Object.values(synth.taskHandlers)).add("nightly-cleanup")) {
      const load = HANDLER_MODULES[name];
      if (!load)
        throw new Error(`the state machine names a handler local mode does not know: ${name}`);
      handlers.set(name, (await load()).handler as LambdaHandler);
    }
    // breakLock asks whether the lock's owner still runs: the local runner answers.
    trackExecutionsIn(workDir);
    (await import("../lambdas/plan-rollout/index.js")).useExecutionStatus(localExecutionStatus);
    const call = (name: string, event: unknown, state?: string) => {
      const handler = handlers.get(name);
      if (!handler) throw new Error(`no handler named ${name}`);
      const context = lambdaContext(name, synth.functionTimeoutsMs[name] ?? 60_000);
      const scope = { [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: context.awsRequestId };
      const run = () => invokeStore.run(scope, () => handler(event, context));
      const onInvoke = options.instrumentation?.onInvoke;
      if (onInvoke === undefined) return run();
      return timed(name, state, event, run, onInvoke);
    };
    const invoke = (name: string, event: unknown) => call(name, event);

    const taskHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [state, name] of Object.entries(synth.taskHandlers)) {
      taskHandlers[state] = (input) => call(name, input, state);
    }
    return {
      workDir,
      lambdaLogFile: join(logsDir, "lambdas.log"),
      definition: synth.definition,
      stateMachineName: synth.stateMachineName,
      taskHandlers,
      profile,
      ledger: { endpoint: dynamo.endpoint, tableName: LOCAL_TABLE },
      ssm,
      cloudWatch,
      fleet,
      invoke,
      ...(dynamo.meter === undefined ? {} : { dynamoMeter: dynamo.meter }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Runs one handler invocation and reports it, result or error, to `onInvoke`. */
async function timed(
  handler: string,
  state: string | undefined,
  event: unknown,
  run: () => Promise<unknown>,
  onInvoke: (call: HandlerCall) => void,
): Promise<unknown> {
  const startedAt = Date.now();
  const begin = performance.now();
  const base = { handler, ...(state === undefined ? {} : { state }), startedAt, event };
  try {
    const result = await run();
    onInvoke({ ...base, durationMs: performance.now() - begin, result });
    return result;
  } catch (error) {
    onInvoke({ ...base, durationMs: performance.now() - begin, error });
    throw error;
  }
}

/** Partition key attributes of the table's global secondary indexes. */
function indexPartitionKeys(tableProperties: Record<string, unknown>): string[] {
  const indexes = (tableProperties.GlobalSecondaryIndexes ?? []) as Array<{
    KeySchema?: Array<{ AttributeName?: string; KeyType?: string }>;
  }>;
  return indexes.flatMap((index) =>
    (index.KeySchema ?? [])
      .filter((key) => key.KeyType === "HASH" && key.AttributeName !== undefined)
      .map((key) => key.AttributeName as string),
  );
}
