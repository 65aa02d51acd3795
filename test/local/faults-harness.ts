/**
 * Helpers of the end-to-end fault tests (test/local/faults-*.test.ts): executions of
 * the synthesized state machine with any input (the runner only builds valid ones),
 * and direct looks at the ledger, the local SSM endpoint and the hosts.
 */
import "../../local/polyfills.js";
import { mkdtemp, readFile, readlink, rm } from "node:fs/promises";
import { get, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SSMClient,
} from "@aws-sdk/client-ssm";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
} from "@aws-sdk/lib-dynamodb";
import { StateMachine } from "aws-local-stepfunctions";
import { afterAll, beforeAll } from "vitest";
import {
  type EnvironmentOptions,
  type LocalEnvironment,
  startEnvironment,
} from "../../local/environment.js";
import { createFleet, type FleetHost } from "../../local/fleet.js";
import { stopFleetProcesses } from "../../local/processes.js";

/** How an execution ended. */
export interface ExecutionOutcome {
  /** SUCCEEDED, FAILED (a Fail state or an error) or ABORTED. */
  readonly status: "SUCCEEDED" | "FAILED" | "ABORTED";
  /** Error and Cause of the failed execution (the Fail state's, e.g. RolloutRejected's). */
  readonly error?: string;
  readonly cause?: string;
  /** Name of every state the execution entered, in order. */
  readonly states: readonly string[];
}

/** Options of {@link runExecution}. */
export interface ExecutionOptions {
  /** The execution name, which is the rollout id. */
  readonly rolloutId: string;
  /**
   * Aborts the execution when the named state exits, without recording anything: what
   * an orchestrator that dies at that moment leaves behind (the fleet lock included).
   */
  readonly crashAfterState?: string;
}

/**
 * Runs the synthesized state machine with `input` as the execution input, its tasks
 * mapped to the real handlers, and reports how it ended. Nothing else is started (no
 * scheduler): meant for inputs that are refused, hosts that are skipped and steps that
 * fail before the switch.
 */
export async function runExecution(
  env: LocalEnvironment,
  input: unknown,
  options: ExecutionOptions,
): Promise<ExecutionOutcome> {
  const machine = new StateMachine(env.definition as never);
  const execution = machine.run(input as never, {
    overrides: { taskResourceLocalHandlers: env.taskHandlers as never },
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:000000000000:execution:${env.stateMachineName}:${options.rolloutId}`,
        Name: options.rolloutId,
        StartTime: new Date().toISOString(),
        Input: input,
        RoleArn: "arn:aws:iam::000000000000:role/local",
      },
      StateMachine: {
        Id: `arn:aws:states:us-east-1:000000000000:stateMachine:${env.stateMachineName}`,
        Name: env.stateMachineName,
      },
    } as never,
  });
  const states: string[] = [];
  let error: string | undefined;
  let cause: string | undefined;
  let aborted = false;
  const events = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === "StateEntered") states.push(event.state.name);
      if (event.type === "ExecutionFailed") {
        error = event.Error;
        // The library passes the Fail state's Cause as is; an Error when it made one.
        cause =
          typeof event.Cause === "string"
            ? event.Cause
            : event.Cause instanceof Error
              ? event.Cause.message
              : JSON.stringify(event.Cause);
      }
      if (
        event.type === "StateExited" &&
        event.state.name === options.crashAfterState &&
        !aborted
      ) {
        aborted = true;
        execution.abort();
      }
    }
  })();
  let status: ExecutionOutcome["status"] = "SUCCEEDED";
  try {
    await execution.result;
  } catch {
    status = aborted ? "ABORTED" : "FAILED";
  }
  await events;
  return { status, error, cause, states };
}

/** A valid execution input for `hosts` of the local fleet (override any field). */
export async function inputFor(
  env: LocalEnvironment,
  hosts: readonly FleetHost[],
  overrides: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  return {
    targetVersion: "2.0.0",
    artifact: await env.fleet.artifact("2.0.0"),
    profile: env.profile,
    hosts: { instanceIds: hosts.map((h) => h.instanceId) },
    batchSize: 1,
    canary: 0,
    failureThreshold: 0,
    fleet: "local",
    ...overrides,
  };
}

const documentClients = new Map<string, DynamoDBDocumentClient>();

/** A document client on the local ledger (its own, not the functions'). */
export function ledgerClient(env: LocalEnvironment): DynamoDBDocumentClient {
  let client = documentClients.get(env.ledger.endpoint);
  if (!client) {
    client = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: env.ledger.endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: "local", secretAccessKey: "local" },
      }),
    );
    documentClients.set(env.ledger.endpoint, client);
  }
  return client;
}

/** Every item of the ledger table. */
export async function scanLedger(env: LocalEnvironment): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await ledgerClient(env).send(
      new ScanCommand({ TableName: env.ledger.tableName, ExclusiveStartKey: start }),
    );
    items.push(...((page.Items ?? []) as Record<string, unknown>[]));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** One ledger item by key, or undefined. */
export async function ledgerItem(
  env: LocalEnvironment,
  pk: string,
  sk: string,
): Promise<Record<string, unknown> | undefined> {
  const out = await ledgerClient(env).send(
    new GetCommand({ TableName: env.ledger.tableName, Key: { pk, sk }, ConsistentRead: true }),
  );
  return out.Item as Record<string, unknown> | undefined;
}

/**
 * Writes the fleet lock a rollout that died without finishing would have left
 * (docs/contracts.md, "Ledger": the lock item), `expiresAt` in epoch seconds.
 */
export async function putLeftoverLock(
  env: LocalEnvironment,
  fleet: string,
  owner: string,
  expiresAt: number,
): Promise<void> {
  await ledgerClient(env).send(
    new PutCommand({
      TableName: env.ledger.tableName,
      Item: {
        pk: `LOCK#${fleet}`,
        sk: "LOCK",
        kind: "lock",
        schemaVersion: 1,
        fleet,
        owner,
        acquiredAt: new Date((expiresAt - 43_200) * 1000).toISOString(),
        expiresAt,
      },
    }),
  );
}

/** Removes a leftover lock item (test cleanup between scenarios). */
export async function deleteLock(env: LocalEnvironment, fleet: string): Promise<void> {
  await ledgerClient(env).send(
    new DeleteCommand({
      TableName: env.ledger.tableName,
      Key: { pk: `LOCK#${fleet}`, sk: "LOCK" },
    }),
  );
}

const ssmClients = new Map<string, SSMClient>();

/** An SSM client on the local endpoint (its own, not the functions'). */
export function ssmClient(env: LocalEnvironment): SSMClient {
  let client = ssmClients.get(env.ssm.endpoint);
  if (!client) {
    client = new SSMClient({
      endpoint: env.ssm.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    ssmClients.set(env.ssm.endpoint, client);
  }
  return client;
}

/** The result line (last stdout line, parsed) of a finished command on one host. */
export async function resultLine(
  env: LocalEnvironment,
  commandId: string,
  instanceId: string,
): Promise<Record<string, unknown>> {
  // Like SSM, the local endpoint answers InvocationDoesNotExist for a short while
  // after SendCommand (eventual consistency): ask again, as the functions do.
  const client = ssmClient(env);
  const request = new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId });
  let out: GetCommandInvocationCommandOutput | undefined;
  for (let attempt = 0; out === undefined; attempt++) {
    try {
      out = await client.send(request);
    } catch (error) {
      if (attempt >= 50 || (error as Error).name !== "InvocationDoesNotExist") throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const last = (out.StandardOutputContent ?? "").trim().split("\n").at(-1) ?? "";
  return JSON.parse(last) as Record<string, unknown>;
}

/** The local SSM invocations of one rollout (their Comment names it), oldest first. */
export function invocationsOf(env: LocalEnvironment, rolloutId: string) {
  return env.ssm.invocations().filter((i) => i.comment.endsWith(` ${rolloutId}`));
}

/** The document step name (preflight, stage, ...) of an invocation's document. */
export function stepOf(documentName: string): string {
  // `<prefix>-<Step>-<profile>` (lambdas/common/document-names.ts); a prefix or a
  // profile may hold dashes, the step never does.
  const match = /-(Preflight|Stage|Switch|Rollback|Cleanup)-[a-z][a-z0-9-]*$/.exec(documentName);
  if (!match) throw new Error(`${documentName} is not a host document name`);
  return (match[1] as string).toLowerCase();
}

/** GET /health of a host's agent: status and served version, or "down". */
export function health(host: FleetHost): Promise<{ status: number; version?: string } | "down"> {
  return new Promise((resolve) => {
    get({ host: "127.0.0.1", port: host.agentPort, path: "/health", timeout: 2_000 }, (res) => {
      let body = "";
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => {
        const version = (JSON.parse(body) as { version?: string }).version;
        resolve({ status: res.statusCode ?? 0, version });
      });
    }).on("error", () => resolve("down"));
  });
}

/** POST /jobs to a host's agent directly (a job the scheduler simulation does not know). */
export function submitJob(host: FleetHost, id: string, seconds: number): Promise<number> {
  const body = JSON.stringify({ id, seconds, exitCode: 0 });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: host.agentPort,
        path: "/jobs",
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Target of a link in a host's agent root, or null. */
export async function linkOf(host: FleetHost, name = "current"): Promise<string | null> {
  try {
    return await readlink(join(host.agentRoot, name));
  } catch {
    return null;
  }
}

/** pid of the host's running listener (run/listener.pid), or null. */
export async function listenerPid(host: FleetHost): Promise<number | null> {
  try {
    return Number((await readFile(join(host.agentRoot, "run", "listener.pid"), "utf8")).trim());
  } catch {
    return null;
  }
}

/** Waits until `check` holds, polling every 100 ms; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A local fleet and its environment, shared by the tests of one file. */
export interface FleetSuite {
  /** The file's work directory (fleet, ledger, logs). */
  readonly workDir: string;
  readonly env: LocalEnvironment;
  readonly hosts: readonly FleetHost[];
  /** Host number `n` (1-based, as `--fault` numbers them). */
  host(n: number): FleetHost;
}

/**
 * Registers the hooks of a fault test file: before its tests, a fleet on 1.0.0 (2.0.0
 * built too) with `faults`, and its local environment; after them, every process of
 * the fleet stopped and the work directory removed.
 *
 * @param environment - options of the environment, made once the work directory exists
 */
export function fleetSuite(
  name: string,
  fleet: { hosts: number; faults: Parameters<typeof createFleet>[1]["faults"] },
  environment: (workDir: string) => Omit<EnvironmentOptions, "workDir"> = () => ({}),
): FleetSuite {
  let workDir = "";
  let env: LocalEnvironment | undefined;
  let hosts: FleetHost[] = [];
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), `agent-rollout-${name}-`));
    const options = environment(workDir);
    await createFleet(workDir, {
      hosts: fleet.hosts,
      fromVersion: "1.0.0",
      versions: ["1.0.0", "2.0.0"],
      faults: fleet.faults,
    });
    env = await startEnvironment({ workDir, ...options });
    hosts = [...env.fleet.hosts];
  }, 120_000);
  afterAll(async () => {
    await env?.close();
    await stopFleetProcesses(join(workDir, "fleet"));
    await rm(workDir, { recursive: true, force: true });
  });
  return {
    get workDir() {
      return workDir;
    },
    get env() {
      if (!env) throw new Error("the fleet suite has not started yet");
      return env;
    },
    get hosts() {
      return hosts;
    },
    host: (n) => hosts[n - 1] as FleetHost,
  };
}
