import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { InvalidInputError, NoHostsError } from "../../lambdas/common/errors.js";
import {
  MAX_HOSTS,
  resolveHosts,
  type TargetTag,
} from "../../lambdas/plan-rollout/resolve-hosts.js";
import { awsError } from "./helpers.js";

const ssmMock = mockClient(SSMClient);
const ssm = new SSMClient({ region: "us-east-1" });

const TARGET_TAG: TargetTag = { targetTagKey: "agent-rollout", targetTagValue: "enabled" };
const TARGET_FILTER = { Key: "tag:agent-rollout", Values: ["enabled"] };
const TARGET = { "agent-rollout": "enabled" };

/** A managed instance SSM knows, with its tags. */
type Managed = { id: string; tags: Record<string, string> };

function hexId(n: number): string {
  return `i-${n.toString(16).padStart(17, "0")}`;
}

/**
 * Answers DescribeInstanceInformation as SSM does, refusals included: tag filters
 * combined with another filter type (ValidationException), an `InstanceIds` filter
 * naming an instance the account does not manage (InvalidInstanceId), MaxResults
 * outside 5..50 (ValidationException). Pages with an opaque NextToken.
 */
function fakeSsm(instances: Managed[]) {
  ssmMock
    .on(DescribeInstanceInformationCommand)
    .callsFake((input: DescribeInstanceInformationCommandInput) => {
      sent.push(structuredClone(input));
      const filters = input.Filters ?? [];
      const isTag = (key = "") => key.startsWith("tag:") || key === "tag-key";
      if (filters.some((f) => isTag(f.Key)) && filters.some((f) => !isTag(f.Key))) {
        throw awsError(
          "ValidationException",
          "Cannot mix tag or inventory filter with any other filter.",
        );
      }
      const size = input.MaxResults ?? 10;
      if (size < 5 || size > 50) throw awsError("ValidationException", "maxResults");
      let matching = instances;
      for (const filter of filters) {
        const values = filter.Values ?? [];
        if (filter.Key === "InstanceIds") {
          const unknown = values.find((id) => !instances.some((i) => i.id === id));
          if (unknown !== undefined) throw awsError("InvalidInstanceId", `${unknown}`);
          matching = matching.filter((i) => values.includes(i.id));
        } else if (filter.Key?.startsWith("tag:")) {
          const key = filter.Key.slice(4);
          matching = matching.filter((i) => values.includes(i.tags[key] ?? "\u0000"));
        } else throw new Error(`unexpected filter ${filter.Key}`);
      }
      const start = Number(input.NextToken ?? 0);
      const page = matching.slice(start, start + size);
      return {
        InstanceInformationList: page.map((i) => ({ InstanceId: i.id })),
        NextToken: start + size < matching.length ? String(start + size) : undefined,
      };
    });
}

/** Each request as it was sent (the paginator reuses one input object for every page). */
let sent: DescribeInstanceInformationCommandInput[] = [];

beforeEach(() => {
  ssmMock.reset();
  sent = [];
});

describe("resolveHosts with an explicit list", () => {
  it("asks SSM for the target tag alone, page by page, and keeps the given order", async () => {
    // Prepare: 120 tagged instances, given in descending order, plus untargeted ones
    const ids = Array.from({ length: 120 }, (_, n) => hexId(200 - n));
    fakeSsm([...ids.map((id) => ({ id, tags: TARGET })), { id: hexId(7), tags: { Env: "prod" } }]);

    // Act
    const hosts = await resolveHosts(ssm, TARGET_TAG, { instanceIds: ids });

    // Assess
    expect(hosts).toEqual(ids);
    expect(ssmMock).toHaveReceivedCommandTimes(DescribeInstanceInformationCommand, 3);
    expect(sent).toEqual([
      { Filters: [TARGET_FILTER], MaxResults: 50 },
      { Filters: [TARGET_FILTER], MaxResults: 50, NextToken: "50" },
      { Filters: [TARGET_FILTER], MaxResults: 50, NextToken: "100" },
    ]);
  });

  it("names each unknown or untagged id by its field, never passing on an SDK error", async () => {
    // Prepare: index 1 is untagged, index 3 unknown to SSM
    const tagged = [hexId(1), hexId(2), hexId(4)];
    fakeSsm([...tagged.map((id) => ({ id, tags: TARGET })), { id: hexId(3), tags: {} }]);

    // Act
    const resolving = resolveHosts(ssm, TARGET_TAG, {
      instanceIds: [hexId(1), hexId(3), hexId(2), hexId(9), hexId(4)],
    });

    // Assess
    await expect(resolving).rejects.toThrow(InvalidInputError);
    await expect(resolving).rejects.toThrow(
      `hosts.instanceIds[1]: ${hexId(3)} is not a managed instance carrying tag agent-rollout=enabled; ` +
        `hosts.instanceIds[3]: ${hexId(9)} is not a managed instance carrying tag agent-rollout=enabled`,
    );
  });

  it("shows the first ten missing ids and counts the rest", async () => {
    // Prepare
    fakeSsm([{ id: hexId(1), tags: TARGET }]);
    const ids = Array.from({ length: 13 }, (_, n) => hexId(100 + n));

    // Act
    const resolving = resolveHosts(ssm, TARGET_TAG, { instanceIds: [hexId(1), ...ids] });

    // Assess
    await expect(resolving).rejects.toThrow(
      new RegExp(`hosts\\.instanceIds\\[10\\]: ${hexId(109)} .*; \\(3 more\\)$`),
    );
  });

  it("lets SSM errors other than refusals of the ids through (throttling is retried by the SDK)", async () => {
    // Prepare
    ssmMock.on(DescribeInstanceInformationCommand).rejects(awsError("AccessDeniedException"));

    // Act
    const resolving = resolveHosts(ssm, TARGET_TAG, { instanceIds: [hexId(1)] });

    // Assess
    await expect(resolving).rejects.toThrow(
      expect.objectContaining({ name: "AccessDeniedException" }),
    );
  });
});

describe("resolveHosts with tags", () => {
  it("sends only tag filters, the target tag last, and orders the hosts by id", async () => {
    // Prepare
    const tagged = Array.from({ length: 60 }, (_, n) => hexId(1000 - n));
    fakeSsm([
      ...tagged.map((id) => ({ id, tags: { ...TARGET, Env: "prod" } })),
      { id: hexId(5), tags: { Env: "prod" } },
      { id: hexId(6), tags: { ...TARGET, Env: "dev" } },
    ]);

    // Act
    const hosts = await resolveHosts(ssm, TARGET_TAG, { tags: { Env: "prod" } });

    // Assess
    expect(hosts).toEqual([...tagged].sort());
    expect(ssmMock).toHaveReceivedCommandTimes(DescribeInstanceInformationCommand, 2);
    const filters = [{ Key: "tag:Env", Values: ["prod"] }, TARGET_FILTER];
    expect(sent).toEqual([
      { Filters: filters, MaxResults: 50 },
      { Filters: filters, MaxResults: 50, NextToken: "50" },
    ]);
  });

  it("refuses a target tag value other than the stack's with NoHostsError, asking nothing", async () => {
    // Act
    const resolving = resolveHosts(ssm, TARGET_TAG, { tags: { "agent-rollout": "disabled" } });

    // Assess
    await expect(resolving).rejects.toThrow(NoHostsError);
    expect(ssmMock).toHaveReceivedCommandTimes(DescribeInstanceInformationCommand, 0);
  });

  it("raises NoHostsError when nothing matches", async () => {
    // Prepare
    fakeSsm([{ id: hexId(1), tags: { ...TARGET, Env: "dev" } }]);

    // Act
    const resolving = resolveHosts(ssm, TARGET_TAG, { tags: { Env: "prod" } });

    // Assess
    await expect(resolving).rejects.toThrow(
      "hosts.tags: no managed instance matches Env=prod with tag agent-rollout=enabled",
    );
  });

  it(`refuses a selection of more than ${MAX_HOSTS} instances`, async () => {
    // Prepare
    fakeSsm(Array.from({ length: MAX_HOSTS + 1 }, (_, n) => ({ id: hexId(n), tags: TARGET })));

    // Act
    const resolving = resolveHosts(ssm, TARGET_TAG, { tags: {} });

    // Assess
    await expect(resolving).rejects.toThrow(
      `hosts.tags: selects ${MAX_HOSTS + 1} instances, more than ${MAX_HOSTS}; narrow the tags`,
    );
  });
});
