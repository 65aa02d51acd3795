/**
 * The thin entries as local mode and Lambda call them: `handler(event, context)`,
 * environment read at the first invocation; and the factory that builds them.
 */
import { devNull } from "node:os";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import { z } from "zod";
import type { FunctionEnv } from "../../lambdas/common/env.js";
import { defineHandler, type LambdaEntry } from "../../lambdas/common/handler.js";
import { hostItem, I1, ROLLOUT_ID, rolloutItem, TABLE } from "./helpers.js";

const ddbMock = mockClient(DynamoDBDocumentClient);
const context = { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-1" };
type Entry = { handler: LambdaEntry<unknown> };
const entries: Record<string, () => Promise<Entry>> = {
  "load-wave": () => import("../../lambdas/load-wave/index.js"),
  "record-host": () => import("../../lambdas/record-host/index.js"),
  "evaluate-wave": () => import("../../lambdas/evaluate-wave/index.js"),
  "finish-rollout": () => import("../../lambdas/finish-rollout/index.js"),
};

beforeEach(() => {
  ddbMock.reset();
  vi.resetModules();
  vi.stubEnv("AWS_REGION", "us-east-1");
  vi.stubEnv("AWS_ACCESS_KEY_ID", "test");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "test");
  vi.stubEnv("LAMBDA_LOG_FILE", devNull);
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("handler entries", () => {
  it.each(["load-wave", "record-host", "evaluate-wave", "finish-rollout"])(
    "%s fails with ConfigurationError naming TABLE_NAME when it is missing, before any call",
    async (name) => {
      // Prepare
      vi.stubEnv("TABLE_NAME", undefined);
      vi.stubEnv("DOCUMENT_PREFIX", "AgentRollout");
      const load = entries[name];
      if (load === undefined) throw new Error(`no entry ${name}`);
      const { handler } = await load();
      const event =
        name === "record-host"
          ? {
              outcome: "failure",
              host: { rolloutId: ROLLOUT_ID, wave: 0, hostId: I1, instanceId: I1 },
              error: { Error: "E" },
            }
          : name === "finish-rollout"
            ? { rolloutId: ROLLOUT_ID, outcome: "DONE" }
            : { rolloutId: ROLLOUT_ID, wave: 0 };

      // Act
      const result = handler(event, context);

      // Assess
      await expect(result).rejects.toMatchObject({
        name: "ConfigurationError",
        message: "environment: TABLE_NAME is required",
      });
      expect(ddbMock.calls()).toHaveLength(0);
    },
  );

  it("load-wave answers {rolloutId, wave} with the wave's hosts", async () => {
    // Prepare
    vi.stubEnv("TABLE_NAME", TABLE);
    vi.stubEnv("DOCUMENT_PREFIX", "AgentRollout");
    ddbMock.on(UpdateCommand).resolves({});
    ddbMock.on(GetCommand).resolves({ Item: rolloutItem() });
    ddbMock.on(QueryCommand).resolves({ Items: [hostItem()] });
    const { handler } = await import("../../lambdas/load-wave/index.js");

    // Act
    const result = await handler({ rolloutId: ROLLOUT_ID, wave: 0 }, context);

    // Assess
    expect(result).toEqual({ wave: 0, hosts: [{ hostId: I1, instanceId: I1 }] });
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, { TableName: TABLE });
  });

  it("record-host records a failure passed by the Catch", async () => {
    // Prepare
    vi.stubEnv("TABLE_NAME", TABLE);
    ddbMock.on(UpdateCommand).resolves({});
    const { handler } = await import("../../lambdas/record-host/index.js");

    // Act
    const result = await handler(
      {
        outcome: "failure",
        host: { rolloutId: ROLLOUT_ID, wave: 0, hostId: I1, instanceId: I1 },
        error: { Error: "HostUnreachableError", Cause: '{"errorMessage":"offline"}' },
      },
      context,
    );

    // Assess
    expect(result).toEqual({ hostId: I1, status: "FAILED" });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 2);
  });

  it("evaluate-wave and finish-rollout run through their entries", async () => {
    // Prepare
    vi.stubEnv("TABLE_NAME", TABLE);
    ddbMock.on(GetCommand).resolves({ Item: rolloutItem({ waveCount: 1 }) });
    ddbMock.on(QueryCommand).resolves({ Items: [hostItem({ status: "UPGRADED" })] });
    ddbMock.on(UpdateCommand).resolves({});
    ddbMock.on(DeleteCommand).resolves({});
    const evaluate = await import("../../lambdas/evaluate-wave/index.js");
    const finish = await import("../../lambdas/finish-rollout/index.js");

    // Act
    const evaluation = await evaluate.handler({ rolloutId: ROLLOUT_ID, wave: 0 }, context);
    const summary = await finish.handler({ rolloutId: ROLLOUT_ID, outcome: "DONE" }, context);

    // Assess
    expect(evaluation).toMatchObject({ decision: "DONE" });
    expect(summary).toMatchObject({ status: "SUCCEEDED", lockReleased: true });
  });

  it("refuses an unknown outcome, naming the field", async () => {
    // Prepare
    vi.stubEnv("TABLE_NAME", TABLE);
    const { handler } = await import("../../lambdas/finish-rollout/index.js");

    // Act
    const result = handler({ rolloutId: ROLLOUT_ID, outcome: "MAYBE" }, context);

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidInputError",
      message: expect.stringMatching(/^outcome: /),
    });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe("defineHandler", () => {
  const schema = z.strictObject({ rolloutId: z.string().min(3), wave: z.int().default(0) });

  it("hands run the parsed event and dependencies built once from the named function's env", async () => {
    // Prepare
    vi.stubEnv("TABLE_NAME", TABLE);
    vi.stubEnv("DOCUMENT_PREFIX", "AgentRollout");
    const deps = vi.fn((env: FunctionEnv<"load-wave">) => ({ table: env.TABLE_NAME }));
    const run = vi.fn(async (built: { table: string }, event: z.output<typeof schema>) => {
      expectTypeOf(event).toEqualTypeOf<{ rolloutId: string; wave: number }>();
      return `${built.table}/${event.rolloutId}/${event.wave}`;
    });
    const handler = defineHandler({ name: "load-wave", eventSchema: schema, deps, run });

    // Act
    const first = await handler({ rolloutId: "r-1" }, context);
    vi.stubEnv("TABLE_NAME", "changed-later");
    const second = await handler({ rolloutId: "r-2", wave: 3 }, context);

    // Assess
    expect([first, second]).toEqual([`${TABLE}/r-1/0`, `${TABLE}/r-2/3`]);
    expect(deps).toHaveBeenCalledTimes(1);
    expect(deps).toHaveBeenCalledWith(
      expect.objectContaining({ TABLE_NAME: TABLE, LOG_LEVEL: "info" }),
    );
    expect(run).toHaveBeenCalledWith({ table: TABLE }, { rolloutId: "r-2", wave: 3 }, context);
  });

  it("validates the environment with the schema of the function it names", async () => {
    // Prepare
    vi.stubEnv("TABLE_NAME", TABLE);
    vi.stubEnv("DOCUMENT_PREFIX", undefined);
    const run = vi.fn(async () => "ran");
    const handler = defineHandler({
      name: "host-step",
      eventSchema: schema,
      deps: () => ({}),
      run,
    });

    // Act
    const result = handler({ rolloutId: "r-1" }, context);

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "ConfigurationError",
      message: expect.stringContaining("DOCUMENT_PREFIX is required"),
    });
    expect(run).not.toHaveBeenCalled();
  });

  it("refuses an invalid event before reading the environment", async () => {
    // Prepare
    vi.stubEnv("TABLE_NAME", undefined);
    const deps = vi.fn(() => ({}));
    const handler = defineHandler({
      name: "record-host",
      eventSchema: schema,
      deps,
      run: async () => "ran",
    });

    // Act
    const result = handler({ rolloutId: "r" }, context);

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidInputError",
      message: expect.stringMatching(/^rolloutId: /),
    });
    expect(deps).not.toHaveBeenCalled();
  });
});
