/**
 * The local SSM endpoint refuses what SSM refuses: one row per documented rule,
 * each sent through the real SDK and answered with the error name SSM returns.
 * docs/aws-fidelity.md cites the page behind every row.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  type ListCommandInvocationsCommandInput,
  SendCommandCommand,
  type SendCommandCommandInput,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalSsm, type SsmDocumentContent, startLocalSsm } from "../../local/ssm/index.js";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };
const region = "us-east-1";

const TAGGED = "i-0aaaaaaaaaaaaaaa1";
const UNTAGGED = "i-0aaaaaaaaaaaaaaa2";
/** Well formed, but no managed node of this account. */
const FOREIGN = "i-0fffffffffffffff9";
const TARGET_TAG = { Key: "tag:agent-rollout", Values: ["enabled"] };
const ids = (n: number) => Array.from({ length: n }, (_, i) => `i-${String(i).padStart(17, "0")}`);

const documents: Record<string, SsmDocumentContent> = {
  Mark: {
    schemaVersion: "2.2",
    parameters: {
      version: {
        type: "String",
        allowedPattern: "^[0-9]+(\\.[0-9]+){0,3}$",
        interpolationType: "ENV_VAR",
      },
    },
    mainSteps: [
      {
        action: "aws:runShellScript",
        name: "mark",
        inputs: { runCommand: ['printf "%s" "$SSM_version" > "$AR_HOST_ROOT/marker"'] },
      },
    ],
  },
};

let root: string;
let ssm: LocalSsm;
let client: SSMClient;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ssm-limits-test-"));
  for (const id of [TAGGED, UNTAGGED]) await mkdir(join(root, id), { recursive: true });
  ssm = await startLocalSsm({
    documents,
    hosts: [
      { instanceId: TAGGED, hostRoot: join(root, TAGGED), tags: { "agent-rollout": "enabled" } },
      { instanceId: UNTAGGED, hostRoot: join(root, UNTAGGED) },
    ],
    outputDir: join(root, "s3"),
  });
  client = new SSMClient({ endpoint: ssm.endpoint, region, credentials, maxAttempts: 1 });
});

afterAll(async () => {
  client?.destroy();
  await ssm?.close();
  await rm(root, { recursive: true, force: true });
});

/** A SendCommand that passes every rule; rows override one field. */
function sendInput(overrides: Partial<SendCommandCommandInput> = {}): SendCommandCommandInput {
  return {
    DocumentName: "Mark",
    InstanceIds: [TAGGED],
    Parameters: { version: ["1.2.3"] },
    ...overrides,
  };
}

type Row =
  | { rule: string; describe: DescribeInstanceInformationCommandInput; error: string }
  | { rule: string; send: SendCommandCommandInput; error: string }
  | { rule: string; list: ListCommandInvocationsCommandInput; error: string };

function request(row: Row) {
  if ("describe" in row) return client.send(new DescribeInstanceInformationCommand(row.describe));
  if ("send" in row) return client.send(new SendCommandCommand(row.send));
  return client.send(new ListCommandInvocationsCommand(row.list));
}

const refused: Row[] = [
  // DescribeInstanceInformation
  {
    rule: "DescribeInstanceInformation: a tag filter next to an InstanceIds filter",
    describe: { Filters: [{ Key: "InstanceIds", Values: [TAGGED] }, TARGET_TAG] },
    error: "ValidationException",
  },
  {
    rule: "DescribeInstanceInformation: a tag-key filter next to a PingStatus filter",
    describe: {
      Filters: [
        { Key: "tag-key", Values: ["agent-rollout"] },
        { Key: "PingStatus", Values: ["Online"] },
      ],
    },
    error: "ValidationException",
  },
  {
    rule: "DescribeInstanceInformation: both InstanceInformationFilterList and Filters",
    describe: {
      InstanceInformationFilterList: [{ key: "PingStatus", valueSet: ["Online"] }],
      Filters: [TARGET_TAG],
    },
    error: "ValidationException",
  },
  {
    rule: "DescribeInstanceInformation: an unknown filter key",
    describe: { Filters: [{ Key: "Tag Key", Values: ["x"] }] },
    error: "InvalidFilterKey",
  },
  {
    rule: "DescribeInstanceInformation: a filter without values",
    describe: { Filters: [{ Key: "PingStatus", Values: [] }] },
    error: "ValidationException",
  },
  {
    rule: "DescribeInstanceInformation: a filter with 101 values",
    describe: { Filters: [{ Key: "tag:agent-rollout", Values: ids(101) }] },
    error: "ValidationException",
  },
  {
    rule: "DescribeInstanceInformation: a legacy filter with 101 values",
    describe: { InstanceInformationFilterList: [{ key: "PingStatus", valueSet: ids(101) }] },
    error: "ValidationException",
  },
  {
    rule: "DescribeInstanceInformation: MaxResults 4",
    describe: { MaxResults: 4 },
    error: "ValidationException",
  },
  {
    rule: "DescribeInstanceInformation: MaxResults 51",
    describe: { MaxResults: 51 },
    error: "ValidationException",
  },
  {
    rule: "DescribeInstanceInformation: an InstanceIds filter naming an instance of no one",
    describe: { Filters: [{ Key: "InstanceIds", Values: [TAGGED, FOREIGN] }] },
    error: "InvalidInstanceId",
  },
  {
    rule: "DescribeInstanceInformation: an InstanceIds filter naming a malformed id",
    describe: { Filters: [{ Key: "InstanceIds", Values: ["not-an-instance"] }] },
    error: "InvalidInstanceId",
  },
  {
    rule: "DescribeInstanceInformation: a legacy InstanceIds filter naming an unknown instance",
    describe: { InstanceInformationFilterList: [{ key: "InstanceIds", valueSet: [FOREIGN] }] },
    error: "InvalidInstanceId",
  },
  // SendCommand
  {
    rule: "SendCommand: 51 InstanceIds",
    send: sendInput({ InstanceIds: ids(51) }),
    error: "ValidationException",
  },
  {
    rule: "SendCommand: a Comment of 101 characters",
    send: sendInput({ Comment: "c".repeat(101) }),
    error: "ValidationException",
  },
  {
    rule: "SendCommand: an OutputS3KeyPrefix of 501 characters",
    send: sendInput({ OutputS3BucketName: "bucket", OutputS3KeyPrefix: "k".repeat(501) }),
    error: "ValidationException",
  },
  {
    rule: "SendCommand: TimeoutSeconds 29",
    send: sendInput({ TimeoutSeconds: 29 }),
    error: "ValidationException",
  },
  {
    rule: "SendCommand: TimeoutSeconds 2,592,001",
    send: sendInput({ TimeoutSeconds: 2_592_001 }),
    error: "ValidationException",
  },
  {
    rule: "SendCommand: a DocumentName outside the pattern",
    send: sendInput({ DocumentName: "M k" }),
    error: "ValidationException",
  },
  {
    rule: "SendCommand: a DocumentName of 2 characters",
    send: sendInput({ DocumentName: "Mk" }),
    error: "ValidationException",
  },
  {
    rule: "SendCommand: a document that does not exist",
    send: sendInput({ DocumentName: "NoSuchDocument" }),
    error: "InvalidDocument",
  },
  {
    rule: "SendCommand: a parameter value outside its allowedPattern",
    send: sendInput({ Parameters: { version: ["1.2; rm -rf /"] } }),
    error: "InvalidParameters",
  },
  {
    rule: "SendCommand: a parameter the document does not declare",
    send: sendInput({ Parameters: { version: ["1"], extra: ["x"] } }),
    error: "InvalidParameters",
  },
  {
    rule: "SendCommand: MaxConcurrency neither a count nor a percentage",
    send: sendInput({ MaxConcurrency: "ten" }),
    error: "ValidationException",
  },
  {
    rule: "SendCommand: MaxErrors of 101%",
    send: sendInput({ MaxErrors: "101%" }),
    error: "ValidationException",
  },
  {
    rule: "SendCommand: an instance of no one",
    send: sendInput({ InstanceIds: [FOREIGN] }),
    error: "InvalidInstanceId",
  },
  // ListCommandInvocations
  {
    rule: "ListCommandInvocations: MaxResults 51",
    list: { MaxResults: 51 },
    error: "ValidationException",
  },
];

const accepted: Row[] = [
  {
    rule: "DescribeInstanceInformation: several tag filters together",
    describe: { Filters: [TARGET_TAG, { Key: "tag-key", Values: ["agent-rollout"] }] },
    error: "",
  },
  {
    rule: "DescribeInstanceInformation: InstanceIds with PingStatus, MaxResults 5",
    describe: {
      Filters: [
        { Key: "InstanceIds", Values: [TAGGED, UNTAGGED] },
        { Key: "PingStatus", Values: ["Online"] },
      ],
      MaxResults: 5,
    },
    error: "",
  },
  {
    rule: "DescribeInstanceInformation: a tag filter with 100 values, MaxResults 50",
    describe: { Filters: [{ Key: "tag:agent-rollout", Values: ids(100) }], MaxResults: 50 },
    error: "",
  },
  {
    rule: "SendCommand: a 100-character Comment, TimeoutSeconds 30, MaxErrors 100%",
    send: sendInput({ Comment: "c".repeat(100), TimeoutSeconds: 30, MaxErrors: "100%" }),
    error: "",
  },
];

describe("the local SSM endpoint refuses what SSM refuses", () => {
  it.each(refused.map((row) => [`${row.rule}: ${row.error}`, row] as const))(
    "%s",
    async (_, row) => {
      await expect(request(row)).rejects.toMatchObject({ name: row.error });
    },
  );

  it.each(accepted.map((row) => [row.rule, row] as const))("accepts %s", async (_, row) => {
    await expect(request(row)).resolves.toMatchObject({ $metadata: { httpStatusCode: 200 } });
  });

  it("answers DescribeInstanceInformation 10 items per page unless MaxResults says otherwise", async () => {
    const many = ids(12);
    const dir = await mkdtemp(join(tmpdir(), "ssm-limits-page-"));
    const local = await startLocalSsm({
      documents,
      hosts: many.map((id) => ({ instanceId: id, hostRoot: dir })),
      outputDir: join(dir, "s3"),
    });
    const c = new SSMClient({ endpoint: local.endpoint, region, credentials, maxAttempts: 1 });
    try {
      const page = await c.send(new DescribeInstanceInformationCommand({}));
      expect(page.InstanceInformationList).toHaveLength(10);
      expect(typeof page.NextToken).toBe("string");
    } finally {
      c.destroy();
      await local.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("GetCommandInvocation right after SendCommand", () => {
  async function send(c: SSMClient): Promise<string> {
    const sent = await c.send(new SendCommandCommand(sendInput()));
    return sent.Command?.CommandId as string;
  }

  it("answers InvocationDoesNotExist for a while by default, as SSM's eventual consistency does", async () => {
    const commandId = await send(client);
    await expect(
      client.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: TAGGED })),
    ).rejects.toMatchObject({ name: "InvocationDoesNotExist" });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const out = await client.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: TAGGED }),
    );
    expect(out.CommandId).toBe(commandId);
  });

  it("answers at once with invocationVisibilityDelayMs 0", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ssm-limits-now-"));
    const local = await startLocalSsm({
      documents,
      hosts: [{ instanceId: TAGGED, hostRoot: dir }],
      outputDir: join(dir, "s3"),
      invocationVisibilityDelayMs: 0,
    });
    const c = new SSMClient({ endpoint: local.endpoint, region, credentials, maxAttempts: 1 });
    try {
      const commandId = await send(c);
      const out = await c.send(
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: TAGGED }),
      );
      expect(out.CommandId).toBe(commandId);
    } finally {
      c.destroy();
      await local.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
