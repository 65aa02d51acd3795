import { devNull } from "node:os";
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  SendCommandCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  handler,
  siblingExecutionArn,
  stepFunctionsExecutionStatus,
} from "../../lambdas/plan-rollout/index.js";
import {
  type PlanRolloutConfig,
  planRollout,
  splitWaves,
} from "../../lambdas/plan-rollout/plan-rollout.js";
import {
  I1,
  I2,
  I3,
  rolloutItem,
  SHA,
  storedInput,
  T0,
  TABLE,
  testDeps,
  validInput,
} from "./helpers.js";

const ssmMock = mockClient(SSMClient);
const ddbMock = mockClient(DynamoDBDocumentClient);

const CONFIG: PlanRolloutConfig = {
  profileNames: ["demo", "ctm"],
  targetTagKey: "agent-rollout",
  targetTagValue: "enabled",
};
const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: "req-1" };

/** Managed instances SSM knows, with their tags. */
type Managed = { id: string; tags: Record<string, string> };
const TARGET = { "agent-rollout": "enabled" };

/** Answers DescribeInstanceInformation like SSM: InstanceIds and tag filters, paginated. */
function fakeInventory(instances: Managed[]) {
  ssmMock
    .on(DescribeInstanceInformationCommand)
    .callsFake((input: DescribeInstanceInformationCommandInput) => {
      let matching = instances;
      for (const filter of input.Filters ?? []) {
        const values = filter.Values ?? [];
        if (filter.Key === "InstanceIds") matching = matching.filter((i) => values.includes(i.id));
        else if (filter.Key?.startsWith("tag:")) {
          const key = filter.Key.slice(4);
          matching = matching.filter((i) => values.includes(i.tags[key] ?? "\u0000"));
        } else throw new Error(`unexpected filter ${filter.Key}`);
      }
      const start = Number(input.NextToken ?? 0);
      const size = input.MaxResults ?? 50;
      const page = matching.slice(start, start + size);
      return {
        InstanceInformationList: page.map((i) => ({ InstanceId: i.id })),
        NextToken: start + size < matching.length ? String(start + size) : undefined,
      };
    });
}

function hexId(n: number): string {
  return `i-${n.toString(16).padStart(17, "0")}`;
}

beforeEach(() => {
  ssmMock.reset();
  ddbMock.reset();
});

describe("splitWaves", () => {
  it("puts the canary hosts first, then waves of waveSize", () => {
    // Prepare
    const hosts = ["a", "b", "c", "d", "e", "f"];

    // Act
    const waves = splitWaves(hosts, 1, 2);

    // Assess
    expect(waves).toEqual([["a"], ["b", "c"], ["d", "e"], ["f"]]);
  });

  it("has no canary wave when canary is 0, and one wave when the canary covers all", () => {
    // Prepare
    const hosts = ["a", "b", "c"];

    // Act
    const noCanary = splitWaves(hosts, 0, 2);
    const allCanary = splitWaves(hosts, 5, 2);

    // Assess
    expect(noCanary).toEqual([["a", "b"], ["c"]]);
    expect(allCanary).toEqual([["a", "b", "c"]]);
  });
});

/** A fleet lock item of `fleet` held by `owner` until `expiresAt` (epoch s). */
function lockItem(fleet: string, owner: string, expiresAt: number) {
  return {
    pk: `LOCK#${fleet}`,
    sk: "LOCK",
    kind: "lock",
    schemaVersion: 1,
    fleet,
    owner,
    acquiredAt: new Date(T0 - 60_000).toISOString(),
    expiresAt,
  };
}

describe("planRollout", () => {
  it("refuses more waves than one execution's history holds, before writing anything", async () => {
    // Prepare: 502 hosts in waves of 1 after a canary of 1 = 502 waves
    const ids = Array.from({ length: 502 }, (_, n) => hexId(5000 + n));
    fakeInventory(ids.map((id) => ({ id, tags: TARGET })));

    const deps = testDeps(CONFIG);

    // Act
    const planning = planRollout(deps, {
      rolloutId: "r-waves",
      input: validInput({ hosts: { instanceIds: ids }, canary: 1, waveSize: 1 }),
    });

    // Assess
    await expect(planning).rejects.toThrow(
      "waveSize: 502 hosts in waves of 1 make 502 waves; one execution's history holds at most 500 (use a waveSize of at least 2)",
    );
    expect(deps.store.calls).toEqual([]);
  });

  it("verifies explicit hosts against the target tag, keeps their order and writes the ledger", async () => {
    // Prepare: 120 ids given in descending order
    const ids = Array.from({ length: 120 }, (_, n) => hexId(200 - n));
    fakeInventory(ids.map((id) => ({ id, tags: TARGET })));
    const deps = testDeps(CONFIG);

    // Act
    const plan = await planRollout(deps, {
      rolloutId: "r-1",
      input: validInput({ hosts: { instanceIds: ids }, canary: 2, waveSize: 50 }),
    });
    const calls = [...deps.store.calls];

    // Assess
    expect(plan).toEqual({
      rolloutId: "r-1",
      hostCount: 120,
      waveCount: 4,
      batchSize: 5,
      bakeSeconds: 0,
      dryRun: false,
      waves: [2, 50, 50, 18],
      mode: "rollout",
    });
    // Lock first, then the hosts' leases, then the rollout, then its hosts.
    expect(calls).toEqual([
      "getRollout",
      "acquireLock",
      "acquireLeases",
      "createRollout",
      "putHosts",
    ]);
    expect(await deps.store.getLock("default")).toMatchObject({ owner: "r-1" });
    expect(await deps.store.getRollout("r-1")).toEqual({
      rolloutId: "r-1",
      status: "PLANNED",
      input: storedInput({ hosts: { instanceIds: ids }, canary: 2, waveSize: 50 }),
      fleet: "default",
      profile: "demo",
      targetVersion: "2.0.0",
      hostCount: 120,
      waveCount: 4,
      failureThreshold: 0,
      failedCount: 0,
      createdAt: new Date(T0).toISOString(),
      updatedAt: new Date(T0).toISOString(),
    });
    const hosts = await deps.store.listHosts("r-1");
    expect(hosts).toHaveLength(120);
    expect(hosts[0]).toEqual({
      rolloutId: "r-1",
      hostId: ids[0],
      instanceId: ids[0],
      wave: 0,
      order: 0,
      status: "PENDING",
      commands: {},
      stepMs: {},
      updatedAt: new Date(T0).toISOString(),
    });
    expect(hosts.map((h) => h.hostId)).toEqual(ids);
    expect(hosts.map((h) => h.order)).toEqual(ids.map((_, n) => n));
    expect(hosts[119]).toMatchObject({ hostId: ids[119], wave: 3, order: 119 });
    expect((await deps.store.listWaveHosts("r-1", 1)).map((h) => h.hostId)).toEqual(
      ids.slice(2, 52),
    );
  });

  it("resolves a tag filter with the target tag, paginated, ordered by instance id", async () => {
    // Prepare
    const tagged = Array.from({ length: 60 }, (_, n) => hexId(1000 - n));
    fakeInventory([
      ...tagged.map((id) => ({ id, tags: { ...TARGET, Env: "prod" } })),
      { id: hexId(5), tags: { Env: "prod" } },
      { id: hexId(6), tags: { ...TARGET, Env: "dev" } },
    ]);
    const deps = testDeps(CONFIG);

    // Act
    const plan = await planRollout(deps, {
      rolloutId: "r-2",
      input: validInput({
        hosts: { tags: { Env: "prod" } },
        dryRun: true,
        canary: 0,
        waveSize: 25,
      }),
    });

    // Assess
    expect(plan.waves).toEqual([25, 25, 10]);
    expect(ssmMock).toHaveReceivedCommandTimes(DescribeInstanceInformationCommand, 2);
    expect(ssmMock).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, {
      Filters: [
        { Key: "tag:Env", Values: ["prod"] },
        { Key: "tag:agent-rollout", Values: ["enabled"] },
      ],
      MaxResults: 50,
    });
    // dry run: nothing written, and the ordering is by id (checked through a real plan below)
    expect(deps.store.calls).toEqual([]);
  });

  it("orders tag-selected hosts by instance id in the ledger", async () => {
    // Prepare
    fakeInventory([
      { id: I3, tags: TARGET },
      { id: I2, tags: TARGET },
      { id: I1, tags: TARGET },
    ]);
    const deps = testDeps(CONFIG);

    // Act
    await planRollout(deps, {
      rolloutId: "r-3",
      input: validInput({ hosts: { tags: { "agent-rollout": "enabled" } }, canary: 0 }),
    });

    // Assess
    const hosts = await deps.store.listHosts("r-3");
    expect(hosts.map((h) => [h.hostId, h.order])).toEqual([
      [I1, 0],
      [I2, 1],
      [I3, 2],
    ]);
    expect(ssmMock).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, {
      Filters: [{ Key: "tag:agent-rollout", Values: ["enabled"] }],
    });
  });

  it("raises NoHostsError when the tags match nothing, writing nothing", async () => {
    // Prepare
    fakeInventory([{ id: I1, tags: { Env: "dev", ...TARGET } }]);
    const deps = testDeps(CONFIG);

    // Act
    const result = planRollout(deps, {
      rolloutId: "r-4",
      input: validInput({ hosts: { tags: { Env: "prod" } } }),
    });

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "NoHostsError",
      message: expect.stringContaining("hosts.tags: no managed instance matches Env=prod"),
    });
    expect(deps.store.calls).toEqual([]);
  });

  it("returns the plan on dryRun and writes nothing", async () => {
    // Prepare
    fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
    const deps = testDeps(CONFIG);

    // Act
    const plan = await planRollout(deps, { rolloutId: "r-5", input: validInput({ dryRun: true }) });

    // Assess
    expect(plan).toMatchObject({ dryRun: true, hostCount: 2, waveCount: 2, waves: [1, 1] });
    expect(deps.store.calls).toEqual([]);
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it("raises FleetLockedError naming the owner and expiry when another rollout holds the lock", async () => {
    // Prepare
    fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
    const expiresAt = Math.floor(T0 / 1000) + 3600;
    const deps = testDeps(CONFIG);
    deps.store.putItem(lockItem("default", "other-rollout", expiresAt));

    // Act
    const result = planRollout(deps, { rolloutId: "r-6", input: validInput() });

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "FleetLockedError",
      owner: "other-rollout",
      expiresAt,
      message: expect.stringMatching(
        /locked by rollout other-rollout until 2025-03-01T03:00:00.000Z.*breakLock: "other-rollout"/,
      ),
    });
    expect(await deps.store.getLock("default")).toMatchObject({
      owner: "other-rollout",
      expiresAt,
    });
    expect(await deps.store.getRollout("r-6")).toBeUndefined();
    expect(await deps.store.listHosts("r-6")).toEqual([]);
  });

  it.each([
    ["another fleet", "canary"],
    ["the same fleet in other letter case", "PROD"],
  ])(
    "refuses hosts a running rollout of %s holds, naming host and owner, writing nothing",
    async (_, fleet) => {
      // Prepare: rollout r-a of fleet "prod" runs on I2
      fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
      const deps = testDeps(CONFIG);
      const expiresAt = Math.floor(T0 / 1000) + 3600;
      deps.store.putItem(lockItem("prod", "r-a", expiresAt));
      await deps.store.acquireLeases({ owner: "r-a", fleet: "prod", hostIds: [I2], now: T0 });

      // Act
      const result = planRollout(deps, { rolloutId: "r-b", input: validInput({ fleet }) });

      // Assess
      await expect(result).rejects.toMatchObject({
        name: "FleetLockedError",
        owner: "r-a",
        message: expect.stringMatching(
          fleet === "PROD"
            ? /^fleet "PROD" is locked by rollout r-a/
            : new RegExp(`^host ${I2} is in running rollout r-a \\(fleet "prod"\\)`),
        ),
      });
      expect(await deps.store.getRollout("r-b")).toBeUndefined();
      expect(await deps.store.getLease(I1)).toBeUndefined();
      expect(await deps.store.getLease(I2)).toMatchObject({ owner: "r-a" });
      expect(await deps.store.getLock("prod")).toMatchObject({ owner: "r-a" });
      // The refused plan released the lock it took.
      expect(await deps.store.getLock("canary")).toBeUndefined();
    },
  );

  it("takes the lock with breakLock from the rollout named there", async () => {
    // Prepare: the dead rollout's lock has hours left
    fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
    const deps = { ...testDeps(CONFIG), executionStatus: async () => "ENDED" as const };
    deps.store.putItem(lockItem("eu", "dead-rollout", Math.floor(T0 / 1000) + 7200));

    // Act
    await planRollout(deps, {
      rolloutId: "r-7",
      input: validInput({ breakLock: "dead-rollout", fleet: "eu", lockTtlSeconds: 600 }),
    });

    // Assess
    expect(await deps.store.getLock("eu")).toEqual({
      fleet: "eu",
      owner: "r-7",
      acquiredAt: new Date(T0).toISOString(),
      expiresAt: Math.floor(T0 / 1000) + 600,
    });
    expect(await deps.store.getRollout("r-7")).toMatchObject({ status: "PLANNED", fleet: "eu" });
  });

  it.each([
    ["still running", "RUNNING", "is still running"],
    ["of unknown status", "UNKNOWN", "cannot be shown to have ended"],
  ] as const)(
    "refuses breakLock naming a rollout %s, naming it, writing nothing",
    async (_, status, text) => {
      // Prepare
      fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
      const asked: unknown[] = [];
      const deps = {
        ...testDeps(CONFIG),
        executionStatus: async (execution: unknown) => {
          asked.push(execution);
          return status;
        },
      };
      deps.store.putItem(lockItem("default", "r-live", Math.floor(T0 / 1000) + 7200));

      // Act
      const result = planRollout(deps, {
        rolloutId: "r-8",
        executionArn: "arn:aws:states:eu-west-1:123456789012:execution:AgentRollout-Rollout:r-8",
        input: validInput({ breakLock: "r-live" }),
      });

      // Assess
      await expect(result).rejects.toMatchObject({
        name: "FleetLockedError",
        owner: "r-live",
        message: expect.stringContaining(`breakLock: rollout r-live ${text}`),
      });
      expect(asked).toEqual([
        {
          rolloutId: "r-live",
          executionArn:
            "arn:aws:states:eu-west-1:123456789012:execution:AgentRollout-Rollout:r-live",
        },
      ]);
      expect(await deps.store.getLock("default")).toMatchObject({ owner: "r-live" });
      expect(await deps.store.getRollout("r-8")).toBeUndefined();
    },
  );

  it("takes with breakLock a lock past its raw expiresAt, or a corrupt lock whose owner ended", async () => {
    // Prepare
    fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
    const deps = testDeps(CONFIG);
    deps.store.putItem(lockItem("default", "r-old", Math.floor(T0 / 1000) - 1));
    const corrupt = { ...testDeps(CONFIG), executionStatus: async () => "ENDED" as const };
    corrupt.store.putItem({
      ...lockItem("default", "r-old", Math.floor(T0 / 1000) + 60),
      acquiredAt: "x",
    });

    // Act
    await planRollout(deps, { rolloutId: "r-9", input: validInput({ breakLock: "r-old" }) });
    await planRollout(corrupt, { rolloutId: "r-9", input: validInput({ breakLock: "r-old" }) });

    // Assess: no execution status source needed for the expired one
    expect(await deps.store.getLock("default")).toMatchObject({ owner: "r-9" });
    expect(await corrupt.store.getLock("default")).toMatchObject({ owner: "r-9" });
  });

  it("continues on a Lambda retry that finds its own PLANNED rollout item", async () => {
    // Prepare
    // Prepare: the first attempt took the lock and wrote the rollout, then died
    fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
    const deps = testDeps(CONFIG);
    deps.store.putItem(lockItem("default", "r-8", Math.floor(T0 / 1000) + 600));
    const earlier = new Date(T0 - 5000).toISOString();
    deps.store.putItem(
      rolloutItem({
        pk: "ROLLOUT#r-8",
        rolloutId: "r-8",
        status: "PLANNED",
        createdAt: earlier,
        updatedAt: earlier,
      }),
    );

    // Act
    const plan = await planRollout(deps, { rolloutId: "r-8", input: validInput() });

    // Assess
    expect(plan.hostCount).toBe(2);
    expect(deps.store.calls).toContain("createRollout");
    expect(await deps.store.getRollout("r-8")).toMatchObject({
      status: "PLANNED",
      createdAt: earlier,
    });
    expect((await deps.store.listHosts("r-8")).map((h) => h.hostId)).toEqual([I1, I2]);
    expect(await deps.store.getLock("default")).toMatchObject({ owner: "r-8" });
    expect(deps.store.calls).not.toContain("releaseLock");
  });

  it("refuses an execution name another rollout already uses, writing nothing", async () => {
    // Prepare
    fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
    const deps = testDeps(CONFIG);
    deps.store.putItem(
      rolloutItem({ pk: "ROLLOUT#r-old", rolloutId: "r-old", status: "SUCCEEDED" }),
    );

    // Act
    const result = planRollout(deps, { rolloutId: "r-old", input: validInput() });

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidInputError",
      message: expect.stringMatching(
        /^rolloutId: r-old already names another rollout \(SUCCEEDED\)/,
      ),
    });
    expect(deps.store.calls).toEqual(["getRollout"]);
    expect(await deps.store.getRollout("r-old")).toMatchObject({ status: "SUCCEEDED" });
    expect(await deps.store.getLock("default")).toBeUndefined();
  });

  it.each([
    ["/srv/artifacts/agent-2.0.0.tar.gz", true],
    ["/srv/artifacts/sub/agent.tar.gz", true],
    ["/srv/artifacts-other/agent.tar.gz", false],
    ["/srv/agent.tar.gz", false],
    ["/etc/shadow", false],
  ])("allows file://%s only below the stack's artifactDirs: %s", async (path, allowed) => {
    // Prepare
    fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
    const deps = testDeps({ ...CONFIG, artifactDirs: ["/opt/none", "/srv/artifacts"] });

    // Act
    const result = planRollout(deps, {
      rolloutId: "r-file",
      input: validInput({ artifact: { url: `file://${path}`, sha256: SHA }, dryRun: true }),
    });

    // Assess
    if (allowed) await expect(result).resolves.toMatchObject({ hostCount: 2 });
    else {
      await expect(result).rejects.toMatchObject({
        name: "InvalidInputError",
        message:
          "artifact.url: must lie below one of the stack's artifactDirs (/opt/none, /srv/artifacts)",
      });
    }
  });

  it("releases its lock when writing the ledger fails, and rethrows", async () => {
    // Prepare
    fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));
    const deps = testDeps(CONFIG);
    deps.store.putHosts = async () => {
      throw Object.assign(new Error("boom"), { name: "InternalServerError" });
    };

    // Act
    const result = planRollout(deps, { rolloutId: "r-9", input: validInput() });

    // Assess
    await expect(result).rejects.toMatchObject({ name: "InternalServerError" });
    expect(deps.store.calls).toContain("releaseLock");
    expect(await deps.store.getLock("default")).toBeUndefined();
  });
});

describe("plan-rollout handler: invalid input", () => {
  beforeAll(() => {
    vi.stubEnv("TABLE_NAME", TABLE);
    vi.stubEnv("PROFILE_NAMES", "demo, ctm");
    vi.stubEnv("TARGET_TAG_KEY", "agent-rollout");
    vi.stubEnv("TARGET_TAG_VALUE", "enabled");
    vi.stubEnv("AWS_REGION", "us-east-1");
    vi.stubEnv("AWS_ACCESS_KEY_ID", "test");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "test");
    vi.stubEnv("LAMBDA_LOG_FILE", devNull);
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  const tooMany = Array.from({ length: 10_001 }, (_, n) => hexId(n));
  const input = (overrides: Record<string, unknown>) => validInput(overrides);
  const artifact = (overrides: Record<string, unknown>) => ({
    url: "https://artifacts.example.com/a.tar.gz",
    sha256: SHA,
    ...overrides,
  });
  const withoutKey = (key: string) => {
    const value = validInput();
    delete value[key];
    return value;
  };

  /** [case, execution input, error name, text the message must contain] */
  const cases: [string, unknown, string, string][] = [
    [
      "missing targetVersion",
      withoutKey("targetVersion"),
      "InvalidInputError",
      "targetVersion: required",
    ],
    ["missing artifact", withoutKey("artifact"), "InvalidInputError", "artifact: required"],
    ["missing profile", withoutKey("profile"), "InvalidInputError", "profile: required"],
    ["missing hosts", withoutKey("hosts"), "InvalidInputError", "hosts: required"],
    ["missing batchSize", withoutKey("batchSize"), "InvalidInputError", "batchSize: required"],
    ["unknown field", input({ force: true }), "InvalidInputError", "force: unknown field"],
    ["input not an object", "2.0.0", "InvalidInputError", "input:"],
    [
      "version with a command",
      input({ targetVersion: "1.0;rm -rf /" }),
      "InvalidInputError",
      'targetVersion: "1.0;rm -rf /" is not a version',
    ],
    [
      "version with $(…)",
      input({ targetVersion: "$(reboot)" }),
      "InvalidInputError",
      "targetVersion:",
    ],
    [
      "version with backticks",
      input({ targetVersion: "1.0`id`" }),
      "InvalidInputError",
      "targetVersion:",
    ],
    [
      "version with a v prefix",
      input({ targetVersion: "v2.0.0" }),
      "InvalidInputError",
      "targetVersion:",
    ],
    [
      "version with five parts",
      input({ targetVersion: "1.2.3.4.5" }),
      "InvalidInputError",
      "targetVersion:",
    ],
    ["empty version", input({ targetVersion: "" }), "InvalidInputError", "targetVersion:"],
    ["version as a number", input({ targetVersion: 2 }), "InvalidInputError", "targetVersion:"],
    [
      "version longer than 64",
      input({ targetVersion: `1.0.0-${"a".repeat(60)}` }),
      "InvalidInputError",
      "targetVersion:",
    ],
    [
      "http:// artifact",
      input({ artifact: artifact({ url: "http://artifacts.example.com/a.tar.gz" }) }),
      "InvalidInputError",
      "artifact.url:",
    ],
    [
      "path traversal in the URL",
      input({ artifact: artifact({ url: "https://a.example.com/x/../../etc/passwd" }) }),
      "InvalidInputError",
      "artifact.url: must not contain",
    ],
    [
      "encoded traversal in the URL",
      input({ artifact: artifact({ url: "https://a.example.com/x/%2e%2e/passwd" }) }),
      "InvalidInputError",
      "artifact.url:",
    ],
    [
      "file URL traversal",
      input({ artifact: artifact({ url: "file:///srv/../etc/passwd" }) }),
      "InvalidInputError",
      "artifact.url:",
    ],
    ...["/etc/shadow", "/proc/self/environ", "/dev/zero"].map(
      (path): [string, unknown, string, string] => [
        `file:// artifact ${path} on a stack that allows none`,
        input({ artifact: artifact({ url: `file://${path}` }) }),
        "InvalidInputError",
        "artifact.url: file:// artifacts are refused: this stack allows none (list the directories they may come from in the CDK context knob artifactDirs",
      ],
    ),
    [
      "URL with a query",
      input({ artifact: artifact({ url: "https://a.example.com/a.tar.gz?x=$(id)" }) }),
      "InvalidInputError",
      "artifact.url:",
    ],
    [
      "URL with a space",
      input({ artifact: artifact({ url: "https://a.example.com/a b.tar.gz" }) }),
      "InvalidInputError",
      "artifact.url:",
    ],
    [
      "URL without a path",
      input({ artifact: artifact({ url: "https://a.example.com" }) }),
      "InvalidInputError",
      "artifact.url:",
    ],
    [
      "upper-case sha256",
      input({ artifact: artifact({ sha256: "A".repeat(64) }) }),
      "InvalidInputError",
      "artifact.sha256:",
    ],
    [
      "short sha256",
      input({ artifact: artifact({ sha256: "abc123" }) }),
      "InvalidInputError",
      "artifact.sha256:",
    ],
    [
      "missing sha256",
      input({ artifact: { url: "https://a.example.com/a.tar.gz" } }),
      "InvalidInputError",
      "artifact.sha256: required",
    ],
    [
      "unknown artifact field",
      input({ artifact: artifact({ signature: "x" }) }),
      "InvalidInputError",
      "artifact.signature: unknown field",
    ],
    ["profile with capitals", input({ profile: "Demo" }), "InvalidInputError", "profile:"],
    ["profile path", input({ profile: "../etc/passwd" }), "InvalidInputError", "profile:"],
    [
      "unknown profile",
      input({ profile: "other" }),
      "UnknownProfileError",
      'profile: "other" is not deployed',
    ],
    ["empty hosts", input({ hosts: {} }), "InvalidInputError", "hosts: give instanceIds or tags"],
    [
      "both ids and tags",
      input({ hosts: { instanceIds: [I1], tags: { Env: "x" } } }),
      "InvalidInputError",
      "not both",
    ],
    [
      "unknown hosts field",
      input({ hosts: { names: ["a"] } }),
      "InvalidInputError",
      "hosts.names: unknown field",
    ],
    [
      "empty host list",
      input({ hosts: { instanceIds: [] } }),
      "InvalidInputError",
      "hosts.instanceIds: must list at least one",
    ],
    [
      "duplicate host",
      input({ hosts: { instanceIds: [I1, I2, I1] } }),
      "InvalidInputError",
      `hosts.instanceIds[2]: duplicate host ${I1}`,
    ],
    [
      "malformed instance id",
      input({ hosts: { instanceIds: [I1, "i-xyz"] } }),
      "InvalidInputError",
      "hosts.instanceIds[1]:",
    ],
    [
      "instance id with a command",
      input({ hosts: { instanceIds: [`${I1};reboot`] } }),
      "InvalidInputError",
      "hosts.instanceIds[0]:",
    ],
    [
      "10001 hosts",
      input({ hosts: { instanceIds: tooMany } }),
      "InvalidInputError",
      "hosts.instanceIds: must list at most 10000",
    ],
    [
      "no tags",
      input({ hosts: { tags: {} } }),
      "InvalidInputError",
      "hosts.tags: must hold at least one tag",
    ],
    [
      "six tags",
      input({ hosts: { tags: { a: "1", b: "1", c: "1", d: "1", e: "1", f: "1" } } }),
      "InvalidInputError",
      "hosts.tags: must hold at most 5",
    ],
    [
      "bad tag key",
      input({ hosts: { tags: { "env$(id)": "x" } } }),
      "InvalidInputError",
      "hosts.tags.env$(id):",
    ],
    ...(["__proto__", "constructor", "prototype"] as const).map(
      (key): [string, unknown, string, string] => [
        `a ${key} tag key (raw JSON, as Step Functions delivers it)`,
        JSON.parse(
          JSON.stringify(validInput({ hosts: { tags: { Env: "prod" } } })).replace(
            '"Env":"prod"',
            `"${key}":"x","Env":"prod"`,
          ),
        ),
        "InvalidInputError",
        `hosts.tags.${key}: "${key}" is a reserved key`,
      ],
    ),
    [
      "bad tag value",
      input({ hosts: { tags: { Env: "prod;reboot" } } }),
      "InvalidInputError",
      "hosts.tags.Env:",
    ],
    ["batchSize 0", input({ batchSize: 0 }), "InvalidInputError", "batchSize:"],
    ["batchSize 100000", input({ batchSize: 100_000 }), "InvalidInputError", "batchSize:"],
    ["batchSize as a string", input({ batchSize: "5" }), "InvalidInputError", "batchSize:"],
    ["fractional batchSize", input({ batchSize: 1.5 }), "InvalidInputError", "batchSize:"],
    ["canary 101", input({ canary: 101 }), "InvalidInputError", "canary:"],
    ["negative canary", input({ canary: -1 }), "InvalidInputError", "canary:"],
    ["waveSize 0", input({ waveSize: 0 }), "InvalidInputError", "waveSize:"],
    [
      "failureThreshold 10001",
      input({ failureThreshold: 10_001 }),
      "InvalidInputError",
      "failureThreshold:",
    ],
    ["bakeSeconds over a day", input({ bakeSeconds: 86_401 }), "InvalidInputError", "bakeSeconds:"],
    ["dryRun as a string", input({ dryRun: "yes" }), "InvalidInputError", "dryRun:"],
    ["fleet with a space", input({ fleet: "eu west" }), "InvalidInputError", "fleet:"],
    ["lockTtlSeconds 60", input({ lockTtlSeconds: 60 }), "InvalidInputError", "lockTtlSeconds:"],
    [
      "breakLock with a command",
      input({ breakLock: "x;reboot" }),
      "InvalidInputError",
      "breakLock:",
    ],
    [
      "host not managed",
      input({ hosts: { instanceIds: [I1, I3] } }),
      "InvalidInputError",
      `hosts.instanceIds[1]: ${I3} is not a managed instance carrying tag agent-rollout=enabled`,
    ],
  ];

  it.each(cases)(
    "refuses %s, naming the field, with nothing written or sent",
    async (_, executionInput, name, text) => {
      // Prepare: I1 and I2 are managed and tagged; I3 is not tagged
      fakeInventory([
        { id: I1, tags: TARGET },
        { id: I2, tags: TARGET },
        { id: I3, tags: {} },
      ]);

      // Act
      const result = handler({ rolloutId: "r-bad", input: executionInput }, context);

      // Assess
      await expect(result).rejects.toMatchObject({ name, message: expect.stringContaining(text) });
      expect(ddbMock.calls()).toHaveLength(0);
      expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    },
  );

  it("refuses an event without rolloutId, naming it", async () => {
    // Act
    const result = handler({ input: validInput() }, context);

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidInputError",
      message: "rolloutId: required",
    });
    expect(ddbMock.calls()).toHaveLength(0);
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it("plans through the handler entry with the environment's profiles and tag", async () => {
    // Prepare
    fakeInventory([I1, I2].map((id) => ({ id, tags: TARGET })));

    // Act
    const plan = await handler(
      { rolloutId: "r-ok", input: validInput({ profile: "ctm", dryRun: true }) },
      context,
    );

    // Assess
    expect(plan).toEqual({
      rolloutId: "r-ok",
      hostCount: 2,
      waveCount: 2,
      batchSize: 5,
      bakeSeconds: 0,
      dryRun: true,
      waves: [1, 1],
      mode: "rollout",
    });
  });
});

describe("stepFunctionsExecutionStatus", () => {
  const sfnMock = mockClient(SFNClient);
  const arn = "arn:aws:states:eu-west-1:123456789012:execution:AgentRollout-Rollout:r-a";

  beforeEach(() => {
    sfnMock.reset();
  });

  it.each([
    ["RUNNING", "RUNNING"],
    ["PENDING_REDRIVE", "RUNNING"],
    ["SUCCEEDED", "ENDED"],
    ["FAILED", "ENDED"],
    ["ABORTED", "ENDED"],
    ["TIMED_OUT", "ENDED"],
  ] as const)("reads %s as %s through DescribeExecution", async (status, expected) => {
    // Prepare
    sfnMock.on(DescribeExecutionCommand).resolves({ status });
    const source = stepFunctionsExecutionStatus(() => new SFNClient({ region: "eu-west-1" }));

    // Act
    const answer = await source({ rolloutId: "r-a", executionArn: arn });

    // Assess
    expect(answer).toBe(expected);
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, { executionArn: arn });
  });

  it("reads an execution that does not exist as ENDED, and no ARN as UNKNOWN", async () => {
    // Prepare
    sfnMock
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error("no such execution"), { name: "ExecutionDoesNotExist" }));
    const source = stepFunctionsExecutionStatus(() => new SFNClient({ region: "eu-west-1" }));

    // Act
    const missing = await source({ rolloutId: "r-a", executionArn: arn });
    const unknown = await source({ rolloutId: "r-a" });

    // Assess
    expect([missing, unknown]).toEqual(["ENDED", "UNKNOWN"]);
  });

  it("names its sibling execution under the same state machine", () => {
    expect(siblingExecutionArn(arn, "r-b")).toBe(
      "arn:aws:states:eu-west-1:123456789012:execution:AgentRollout-Rollout:r-b",
    );
  });
});
