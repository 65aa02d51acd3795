import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GetObjectCommand, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  InvalidDocument,
  InvalidInstanceId,
  InvalidNextToken,
  InvalidParameters,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
  ThrottlingException,
} from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readResultLine } from "../../lambdas/common/command-output.js";
import { type LocalSsm, type SsmDocumentContent, startLocalSsm } from "../../local/ssm/index.js";
import { putObject } from "../../local/ssm/s3.js";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const region = "us-east-1";
const DELIVERY_TIMEOUT_MS = 800;
const BUCKET = "command-output";

const ONLINE = "i-0aaaaaaaaaaaaaaa1";
const OFFLINE = "i-0bbbbbbbbbbbbbbb1";
const OFFLINE_LATER_ONLINE = "i-0bbbbbbbbbbbbbbb2";
const UNDELIVERABLE = "i-0ccccccccccccccc1";
const MANAGED = "mi-0ddddddddddddddd1";
/** Seven hosts tagged Role=web, so that a page of five leaves two. */
const WEB = Array.from({ length: 7 }, (_, i) => `i-0eeeeeeeeeeeeeee${i}`);

function shellDoc(
  name: string,
  lines: string[],
  parameters: SsmDocumentContent["parameters"] = {},
  timeoutSeconds?: string,
): SsmDocumentContent {
  return {
    schemaVersion: "2.2",
    description: `test document ${name}`,
    parameters,
    mainSteps: [
      {
        action: "aws:runShellScript",
        name,
        inputs: { runCommand: lines, ...(timeoutSeconds ? { timeoutSeconds } : {}) },
      },
    ],
  };
}

/** The host scripts' result library, for a step that prints a result as they do. */
const RESULT_LIB = fileURLToPath(new URL("../../host/scripts/lib/result.sh", import.meta.url));

const documents: Record<string, SsmDocumentContent> = {
  Echo: shellDoc("echo", ['echo "$SSM_msg"', 'echo "$AR_HOST_ROOT"', 'echo "$LOCAL_EXTRA"'], {
    msg: {
      type: "String",
      description: "what to print",
      allowedPattern: "^[A-Za-z0-9 ]{1,40}$",
      interpolationType: "ENV_VAR",
    },
  }),
  Mark: shellDoc("mark", ['printf "%s" "$SSM_version" > "$AR_HOST_ROOT/marker"'], {
    version: {
      type: "String",
      description: "a version",
      allowedPattern: "^[0-9]+(\\.[0-9]+){0,3}$",
      interpolationType: "ENV_VAR",
    },
  }),
  Exit3: shellDoc("exit3", ["echo out", "echo broken >&2", "exit 3"]),
  Big: shellDoc("big", ["for i in $(seq 1 4000); do printf '%09d\\n' \"$i\"; done"]),
  // A result line of 30,000+ characters printed by lib/result.sh, integrity line first.
  BigResult: shellDoc("bigresult", [
    "bash -s <<'EOF'",
    `source '${RESULT_LIB}'`,
    "AR_STEP=switch",
    "ar_out_str pad \"$(printf 'j%.0s' $(seq 1 30000))\"",
    "ar_emit SWITCHED",
    "EOF",
  ]),
  // Leader and a background child write their pids, then the leader waits: a group to kill.
  Hang: shellDoc(
    "hang",
    [
      'echo $$ > "$AR_HOST_ROOT/$SSM_tag.pids"',
      "sleep 60 &",
      'echo $! >> "$AR_HOST_ROOT/$SSM_tag.pids"',
      "wait",
    ],
    { tag: { type: "String", allowedPattern: "^[a-z]+$", interpolationType: "ENV_VAR" } },
  ),
  HangShort: shellDoc(
    "hangshort",
    [
      'echo $$ > "$AR_HOST_ROOT/short.pids"',
      "sleep 60 &",
      'echo $! >> "$AR_HOST_ROOT/short.pids"',
      "wait",
    ],
    {},
    "5",
  ),
};

let root: string;
let ssm: LocalSsm;
let client: SSMClient;
let s3: S3Client;
const logLines: string[] = [];

function hostRoot(id: string): string {
  return join(root, "hosts", id);
}

async function send(
  documentName: string,
  instanceId: string,
  parameters: Record<string, string[]> = {},
) {
  const out = await client.send(
    new SendCommandCommand({
      DocumentName: documentName,
      InstanceIds: [instanceId],
      Parameters: parameters,
      OutputS3BucketName: BUCKET,
      OutputS3KeyPrefix: "runs",
    }),
  );
  return out.Command?.CommandId as string;
}

const TERMINAL = new Set(["Success", "Failed", "TimedOut", "Cancelled"]);

async function waitForInvocation(
  commandId: string,
  instanceId: string,
  until: (o: GetCommandInvocationCommandOutput) => boolean = (o) => TERMINAL.has(o.Status ?? ""),
  timeoutMs = 10_000,
): Promise<GetCommandInvocationCommandOutput> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await client.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
    );
    if (until(out)) return out;
    if (Date.now() > deadline) {
      throw new Error(`invocation still ${out.Status}/${out.StatusDetails}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A pid is alive unless it is gone or a zombie (PID 1 of a container may never reap orphans). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function pidsOf(file: string): Promise<number[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const lines = existsSync(file)
      ? (await readFile(file, "utf8")).split("\n").filter(Boolean)
      : [];
    if (lines.length === 2) return lines.map(Number);
    if (Date.now() > deadline) throw new Error(`no pids in ${file}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function eventually(check: () => boolean, timeoutMs = 3_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ssm-server-test-"));
  const ids = [ONLINE, OFFLINE, OFFLINE_LATER_ONLINE, UNDELIVERABLE, MANAGED, ...WEB];
  for (const id of ids) {
    await mkdir(hostRoot(id), { recursive: true });
  }
  ssm = await startLocalSsm({
    documents,
    hosts: [
      {
        instanceId: ONLINE,
        hostRoot: hostRoot(ONLINE),
        computerName: "online.local",
        tags: { Role: "db" },
      },
      { instanceId: OFFLINE, hostRoot: hostRoot(OFFLINE), state: "offline", tags: { Role: "db" } },
      {
        instanceId: OFFLINE_LATER_ONLINE,
        hostRoot: hostRoot(OFFLINE_LATER_ONLINE),
        state: "offline",
      },
      { instanceId: UNDELIVERABLE, hostRoot: hostRoot(UNDELIVERABLE), state: "undeliverable" },
      { instanceId: MANAGED, hostRoot: hostRoot(MANAGED), computerName: "managed.local" },
      ...WEB.map((id) => ({
        instanceId: id,
        hostRoot: hostRoot(id),
        tags: { Role: "web", Tier: "front" },
      })),
    ],
    outputDir: join(root, "s3"),
    deliveryTimeoutMs: DELIVERY_TIMEOUT_MS,
    // These tests read invocations the moment they are sent; ssm-limits.test.ts covers the delay.
    invocationVisibilityDelayMs: 0,
    env: { LOCAL_EXTRA: "extra-env" },
    log: (line) => logLines.push(line),
  });
  client = new SSMClient({ endpoint: ssm.endpoint, region, credentials });
  s3 = new S3Client({ endpoint: ssm.endpoint, region, credentials, forcePathStyle: true });
});

afterAll(async () => {
  client?.destroy();
  s3?.destroy();
  await ssm?.close();
  await rm(root, { recursive: true, force: true });
});

describe("local SSM endpoint", () => {
  it("runs a command with ENV_VAR parameters and AR_HOST_ROOT, and reports Success", async () => {
    const commandId = await send("Echo", ONLINE, { msg: ["hello world"] });
    const out = await waitForInvocation(commandId, ONLINE);
    expect(out.Status).toBe("Success");
    expect(out.StatusDetails).toBe("Success");
    expect(out.ResponseCode).toBe(0);
    expect(out.PluginName).toBe("echo");
    expect(out.StandardOutputContent).toBe(`hello world\n${hostRoot(ONLINE)}\nextra-env\n`);
    expect(out.StandardErrorContent).toBe("");
    expect(Date.parse(out.ExecutionEndDateTime ?? "")).toBeGreaterThanOrEqual(
      Date.parse(out.ExecutionStartDateTime ?? ""),
    );

    const listed = await client.send(
      new ListCommandInvocationsCommand({ CommandId: commandId, Details: true }),
    );
    expect(listed.CommandInvocations?.map((i) => [i.InstanceId, i.InstanceName, i.Status])).toEqual(
      [[ONLINE, "online.local", "Success"]],
    );
    expect(
      listed.CommandInvocations?.[0]?.CommandPlugins?.map((p) => [
        p.Name,
        p.Status,
        p.ResponseCode,
        p.Output,
      ]),
    ).toEqual([["echo", "Success", 0, `hello world\n${hostRoot(ONLINE)}\nextra-env\n`]]);
    const commands = await client.send(new ListCommandsCommand({ CommandId: commandId }));
    expect(
      commands.Commands?.map((c) => [
        c.Status,
        c.StatusDetails,
        c.TargetCount,
        c.CompletedCount,
        c.ErrorCount,
      ]),
    ).toEqual([["Success", "Success", 1, 1, 0]]);
    expect(logLines).toContain(`start ${commandId} Echo on ${ONLINE}`);
    expect(
      logLines.some((l) =>
        l.startsWith(`end ${commandId} Echo on ${ONLINE}: Success/Success (code 0, `),
      ),
    ).toBe(true);
  });

  it("reports a non-zero exit as Failed with the exit code", async () => {
    const commandId = await send("Exit3", ONLINE);
    const out = await waitForInvocation(commandId, ONLINE);
    expect([out.Status, out.StatusDetails, out.ResponseCode]).toEqual(["Failed", "Failed", 3]);
    expect(out.StandardOutputContent).toBe("out\n");
    expect(out.StandardErrorContent).toBe("broken\n");
  });

  it("truncates StandardOutputContent to 24,000 characters and keeps the full output in S3", async () => {
    const full = Array.from({ length: 4000 }, (_, i) => `${String(i + 1).padStart(9, "0")}\n`).join(
      "",
    );
    expect(full.length).toBe(40_000);
    const commandId = await send("Big", ONLINE);
    const out = await waitForInvocation(commandId, ONLINE);
    expect(out.Status).toBe("Success");
    expect(out.StandardOutputContent?.length).toBe(24_000);
    expect(out.StandardOutputContent).toBe(`${full.slice(0, 23_980)}--output truncated--`);
    const key = `runs/${commandId}/${ONLINE}/awsrunShellScript/big/stdout`;
    expect(out.StandardOutputUrl).toBe(`https://s3.us-east-1.amazonaws.com/${BUCKET}/${key}`);
    expect(out.StandardErrorUrl).toBe(
      `https://s3.us-east-1.amazonaws.com/${BUCKET}/runs/${commandId}/${ONLINE}/awsrunShellScript/big/stderr`,
    );

    const url = new URL(out.StandardOutputUrl as string);
    const [bucket, ...rest] = url.pathname.slice(1).split("/");
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: rest.join("/") }));
    expect(await object.Body?.transformToString()).toBe(full);
    await expect(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `runs/${commandId}/nothing/here` })),
    ).rejects.toBeInstanceOf(NoSuchKey);
  });

  it("lets the Lambda read a result past the inline stdout from the uploaded S3 copy", async () => {
    // Act
    const commandId = await send("BigResult", ONLINE);
    const out = await waitForInvocation(commandId, ONLINE);
    const result = await readResultLine(out, s3, BUCKET);

    // Assess
    expect(out.Status).toBe("Success");
    expect(out.StandardOutputContent?.length).toBe(24_000);
    expect(result?.source).toBe("s3");
    expect(result?.line).toMatchObject({ step: "switch", status: "SWITCHED" });
    expect(String(result?.line.pad)).toHaveLength(30_000);
  });

  it("refuses that S3 copy once another writer has replaced it", async () => {
    // Prepare: the same key rewritten with another valid-looking result
    const commandId = await send("BigResult", ONLINE);
    const out = await waitForInvocation(commandId, ONLINE);
    const key = `runs/${commandId}/${ONLINE}/awsrunShellScript/bigresult/stdout`;
    const forged = `{"step":"switch","status":"SWITCHED","pad":"${"k".repeat(30_000)}"}`;
    await putObject(join(root, "s3"), BUCKET, key, `result-sha256 ${"0".repeat(64)}\n${forged}\n`);

    // Act
    const result = readResultLine(out, s3, BUCKET);

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "CommandOutputError",
      message: expect.stringContaining("does not match the instance's inline result-sha256"),
    });
  });

  it("kills the whole process group when a step exceeds its timeoutSeconds", async () => {
    const started = Date.now();
    const commandId = await send("HangShort", ONLINE);
    const pids = await pidsOf(join(hostRoot(ONLINE), "short.pids"));
    expect(pids.every(alive)).toBe(true);
    const out = await waitForInvocation(commandId, ONLINE);
    expect([out.Status, out.StatusDetails, out.ResponseCode]).toEqual([
      "TimedOut",
      "ExecutionTimedOut",
      137,
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(5_000);
    expect(await eventually(() => !pids.some(alive))).toBe(true);
  });

  it("cancels a running command by killing its process group", async () => {
    const commandId = await send("Hang", ONLINE, { tag: ["cancel"] });
    const pids = await pidsOf(join(hostRoot(ONLINE), "cancel.pids"));
    expect(pids.every(alive)).toBe(true);
    expect(
      (
        await client.send(
          new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: ONLINE }),
        )
      ).Status,
    ).toBe("InProgress");
    await client.send(new CancelCommandCommand({ CommandId: commandId }));
    const out = await waitForInvocation(commandId, ONLINE);
    expect([out.Status, out.StatusDetails, out.ResponseCode]).toEqual([
      "Cancelled",
      "Cancelled",
      137,
    ]);
    expect(await eventually(() => !pids.some(alive))).toBe(true);
  });

  it("keeps a command for an offline host Pending, then DeliveryTimedOut", async () => {
    const started = Date.now();
    const commandId = await send("Mark", OFFLINE, { version: ["1.0"] });
    const first = await client.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: OFFLINE }),
    );
    expect([first.Status, first.StatusDetails, first.ResponseCode]).toEqual([
      "Pending",
      "Pending",
      -1,
    ]);
    const out = await waitForInvocation(commandId, OFFLINE);
    const took = Date.now() - started;
    expect([out.Status, out.StatusDetails, out.ResponseCode]).toEqual([
      "TimedOut",
      "DeliveryTimedOut",
      -1,
    ]);
    expect(out.ExecutionStartDateTime).toBe("");
    expect(took).toBeGreaterThanOrEqual(DELIVERY_TIMEOUT_MS);
    expect(took).toBeLessThan(DELIVERY_TIMEOUT_MS + 2_000);
    expect(existsSync(join(hostRoot(OFFLINE), "marker"))).toBe(false);
  });

  it("delivers a pending command when its host comes back online in time", async () => {
    const commandId = await send("Mark", OFFLINE_LATER_ONLINE, { version: ["2.5"] });
    await new Promise((r) => setTimeout(r, 200));
    const pending = await client.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: OFFLINE_LATER_ONLINE }),
    );
    expect(pending.Status).toBe("Pending");
    expect(existsSync(join(hostRoot(OFFLINE_LATER_ONLINE), "marker"))).toBe(false);
    ssm.setHostState(OFFLINE_LATER_ONLINE, "online");
    const out = await waitForInvocation(commandId, OFFLINE_LATER_ONLINE);
    expect([out.Status, out.StatusDetails, out.ResponseCode]).toEqual(["Success", "Success", 0]);
    expect(await readFile(join(hostRoot(OFFLINE_LATER_ONLINE), "marker"), "utf8")).toBe("2.5");
  });

  it("fails a command for an undeliverable host at once", async () => {
    const commandId = await send("Mark", UNDELIVERABLE, { version: ["1.0"] });
    const out = await waitForInvocation(commandId, UNDELIVERABLE, undefined, 1_000);
    expect([out.Status, out.StatusDetails, out.ResponseCode]).toEqual([
      "Failed",
      "Undeliverable",
      -1,
    ]);
    expect(existsSync(join(hostRoot(UNDELIVERABLE), "marker"))).toBe(false);
  });

  it("rejects a parameter value outside its allowedPattern and runs nothing", async () => {
    const before = ssm.stats().commands;
    const error = await client
      .send(
        new SendCommandCommand({
          DocumentName: "Mark",
          InstanceIds: [MANAGED],
          Parameters: { version: ["1.0;rm -rf /"] },
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidParameters);
    expect((error as Error).message).toContain('Parameter "version"');
    await new Promise((r) => setTimeout(r, 200));
    expect(ssm.stats().commands).toBe(before);
    expect(ssm.invocations().some((i) => i.instanceId === MANAGED)).toBe(false);
    expect(existsSync(join(hostRoot(MANAGED), "marker"))).toBe(false);

    // The same host and document with a valid value does run: the marker check above can fail.
    const commandId = await send("Mark", MANAGED, { version: ["1.0"] });
    expect((await waitForInvocation(commandId, MANAGED)).Status).toBe("Success");
    expect(await readFile(join(hostRoot(MANAGED), "marker"), "utf8")).toBe("1.0");
  });

  it("rejects unknown and missing parameters", async () => {
    const unknown = await client
      .send(
        new SendCommandCommand({
          DocumentName: "Mark",
          InstanceIds: [ONLINE],
          Parameters: { version: ["1"], extra: ["x"] },
        }),
      )
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(InvalidParameters);
    expect((unknown as Error).message).toContain('Parameter "extra"');
    const missing = await client
      .send(new SendCommandCommand({ DocumentName: "Mark", InstanceIds: [ONLINE] }))
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(InvalidParameters);
    expect((missing as Error).message).toContain('Parameter "version"');
  });

  it("answers InvalidInstanceId, InvalidDocument and InvocationDoesNotExist", async () => {
    await expect(
      client.send(
        new SendCommandCommand({
          DocumentName: "Echo",
          InstanceIds: ["i-0123456789abcdef0"],
          Parameters: { msg: ["x"] },
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidInstanceId);
    await expect(
      client.send(
        new SendCommandCommand({ DocumentName: "NoSuchDocument", InstanceIds: [ONLINE] }),
      ),
    ).rejects.toBeInstanceOf(InvalidDocument);
    await expect(
      client.send(
        new GetCommandInvocationCommand({
          CommandId: "00000000-0000-4000-8000-000000000000",
          InstanceId: ONLINE,
        }),
      ),
    ).rejects.toBeInstanceOf(InvocationDoesNotExist);
  });

  it("filters DescribeInstanceInformation by tag and pages with NextToken", async () => {
    const first = await client.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: "tag:Role", Values: ["web"] }],
        MaxResults: 5,
      }),
    );
    expect(first.InstanceInformationList?.map((i) => i.InstanceId)).toEqual(WEB.slice(0, 5));
    expect(typeof first.NextToken).toBe("string");
    const second = await client.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: "tag:Role", Values: ["web"] }],
        MaxResults: 5,
        NextToken: first.NextToken,
      }),
    );
    expect(second.InstanceInformationList?.map((i) => i.InstanceId)).toEqual(WEB.slice(5));
    expect(second.NextToken).toBeUndefined();

    const db = await client.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: "tag:Role", Values: ["db"] }] }),
    );
    expect(
      db.InstanceInformationList?.map((i) => [
        i.InstanceId,
        i.PingStatus,
        i.PlatformType,
        i.ResourceType,
      ]),
    ).toEqual([
      [ONLINE, "Online", "Linux", "EC2Instance"],
      [OFFLINE, "ConnectionLost", "Linux", "EC2Instance"],
    ]);
    const managed = await client.send(
      new DescribeInstanceInformationCommand({
        InstanceInformationFilterList: [{ key: "InstanceIds", valueSet: [MANAGED] }],
      }),
    );
    expect(
      managed.InstanceInformationList?.map((i) => [i.InstanceId, i.ResourceType, i.ComputerName]),
    ).toEqual([[MANAGED, "ManagedInstance", "managed.local"]]);
  });

  it("pages ListCommandInvocations of an instance, newest first", async () => {
    const host = WEB[6] as string;
    const older = await send("Echo", host, { msg: ["one"] });
    const newer = await send("Echo", host, { msg: ["two"] });
    await waitForInvocation(older, host);
    await waitForInvocation(newer, host);
    const first = await client.send(
      new ListCommandInvocationsCommand({ InstanceId: host, MaxResults: 1 }),
    );
    expect(first.CommandInvocations?.map((i) => i.CommandId)).toEqual([newer]);
    expect(typeof first.NextToken).toBe("string");
    const second = await client.send(
      new ListCommandInvocationsCommand({
        InstanceId: host,
        MaxResults: 1,
        NextToken: first.NextToken,
      }),
    );
    expect(second.CommandInvocations?.map((i) => [i.CommandId, i.Status])).toEqual([
      [older, "Success"],
    ]);
    expect(second.NextToken).toBeUndefined();
    await expect(
      client.send(
        new ListCommandInvocationsCommand({
          InstanceId: ONLINE,
          MaxResults: 1,
          NextToken: first.NextToken,
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidNextToken);
  });

  it("answers injected ThrottlingExceptions that the SDK's default retry absorbs", async () => {
    const before = ssm.stats().calls.DescribeInstanceInformation ?? 0;
    ssm.injectThrottling("DescribeInstanceInformation", 2);
    const out = await client.send(
      new DescribeInstanceInformationCommand({
        Filters: [{ Key: "InstanceIds", Values: [ONLINE] }],
      }),
    );
    expect(out.$metadata.attempts).toBe(3);
    expect(out.InstanceInformationList?.map((i) => i.InstanceId)).toEqual([ONLINE]);
    expect(ssm.stats().calls.DescribeInstanceInformation).toBe(before + 3);

    const noRetry = new SSMClient({ endpoint: ssm.endpoint, region, credentials, maxAttempts: 1 });
    ssm.injectThrottling("ListCommands", 1);
    const error = await noRetry.send(new ListCommandsCommand({})).catch((e: unknown) => e);
    noRetry.destroy();
    expect(error).toBeInstanceOf(ThrottlingException);
    expect((error as Error).message).toBe("Rate exceeded");
  });
});

describe("close()", () => {
  it("kills running process groups and stops answering", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ssm-close-test-"));
    try {
      const id = "i-0fffffffffffffff1";
      await mkdir(join(dir, "host"));
      const local = await startLocalSsm({
        documents: { Hang: documents.Hang as SsmDocumentContent },
        hosts: [{ instanceId: id, hostRoot: join(dir, "host") }],
        outputDir: join(dir, "s3"),
      });
      const c = new SSMClient({ endpoint: local.endpoint, region, credentials, maxAttempts: 1 });
      await c.send(
        new SendCommandCommand({
          DocumentName: "Hang",
          InstanceIds: [id],
          Parameters: { tag: ["close"] },
        }),
      );
      const pids = await pidsOf(join(dir, "host", "close.pids"));
      expect(pids.every(alive)).toBe(true);
      await local.close();
      expect(await eventually(() => !pids.some(alive))).toBe(true);
      await expect(fetch(local.endpoint)).rejects.toThrow();
      c.destroy();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
