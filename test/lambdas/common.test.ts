import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import middy from "@middy/core";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { HostStepEnvSchema, loadEnv, PlanRolloutEnvSchema } from "../../lambdas/common/env.js";
import {
  CommandOutputError,
  CommandTimedOutError,
  ConfigurationError,
  FleetLockedError,
  HostStepFailedError,
  HostUnreachableError,
  InvalidInputError,
  LedgerConflictError,
  NoHostsError,
  UnknownProfileError,
} from "../../lambdas/common/errors.js";
import { createLogger, newPowertoolsLogger } from "../../lambdas/common/logger.js";
import { eventIds, eventValidator, invocationLogger } from "../../lambdas/common/middleware.js";
import { RolloutInputSchema, StepStateSchema } from "../../lambdas/common/schemas.js";
import { validInput } from "./helpers.js";

const context = { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-7" } as never;

describe("errors", () => {
  it.each([
    [new InvalidInputError("m"), "InvalidInputError"],
    [new UnknownProfileError("m"), "UnknownProfileError"],
    [new NoHostsError("m"), "NoHostsError"],
    [new FleetLockedError("m", "r", 1), "FleetLockedError"],
    [new ConfigurationError("m"), "ConfigurationError"],
    [new HostStepFailedError("m"), "HostStepFailedError"],
    [new CommandTimedOutError("m"), "CommandTimedOutError"],
    [new HostUnreachableError("m"), "HostUnreachableError"],
    [new CommandOutputError("m"), "CommandOutputError"],
    [new LedgerConflictError("m"), "LedgerConflictError"],
  ])("%s carries its name for Step Functions", (error, name) => {
    // Assess
    expect(error.name).toBe(name);
    expect(error).toBeInstanceOf(Error);
  });
});

describe("RolloutInputSchema", () => {
  it("applies the defaults", () => {
    // Act
    const input = RolloutInputSchema.parse(validInput());

    // Assess
    expect(input).toMatchObject({
      waveSize: 100,
      failureThreshold: 0,
      bakeSeconds: 0,
      dryRun: false,
      fleet: "default",
      lockTtlSeconds: 43_200,
    });
    expect(input.breakLock).toBeUndefined();
  });

  it.each(["2.0.0", "10.2", "1.2.3.4", "2.0.0-rc.1", "2.0.0+build.7"])(
    "accepts version %s",
    (version) => {
      // Act
      const result = RolloutInputSchema.safeParse(validInput({ targetVersion: version }));

      // Assess
      expect(result.success).toBe(true);
    },
  );

  it("accepts a file URL for local mode and a tag selection", () => {
    // Act
    const result = RolloutInputSchema.safeParse(
      validInput({
        artifact: { url: "file:///srv/artifacts/agent-2.0.0.tar.gz", sha256: "0".repeat(64) },
        hosts: { tags: { Env: "prod", "aws:team": "ops" } },
      }),
    );

    // Assess
    expect(result.success).toBe(true);
  });
});

describe("StepStateSchema", () => {
  it("refuses unknown fields so job items cannot ride along", () => {
    // Act
    const result = StepStateSchema.safeParse({
      step: "switch",
      commandId: "c",
      done: true,
      waitSeconds: 0,
      jobs: [],
    });

    // Assess
    expect(result.success).toBe(false);
  });

  it.each(["__proto__", "constructor", "prototype"])(
    "refuses a summary with a %s key, naming it",
    (key) => {
      // Prepare: parsed from JSON, as Lambda delivers the event
      const state = JSON.parse(
        `{"step":"stage","done":true,"waitSeconds":0,"summary":{"${key}":"x","release":"r"}}`,
      );

      // Act
      const result = StepStateSchema.safeParse(state);

      // Assess
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]).toMatchObject({ path: ["summary", key] });
    },
  );
});

describe("loadEnv", () => {
  it("names every missing or malformed variable", () => {
    // Act
    const load = () =>
      loadEnv(PlanRolloutEnvSchema, { PROFILE_NAMES: "demo,Bad", TARGET_TAG_KEY: "k" });

    // Assess
    expect(load).toThrow(ConfigurationError);
    expect(load).toThrow(/TABLE_NAME is required/);
    expect(load).toThrow(/PROFILE_NAMES/);
    expect(load).toThrow(/TARGET_TAG_VALUE is required/);
  });

  it("applies defaults and parses numbers and lists", () => {
    // Act
    const host = loadEnv(HostStepEnvSchema, {
      TABLE_NAME: "t",
      DOCUMENT_PREFIX: "AR",
      OUTPUT_BUCKET: "rollout-output",
      INLINE_POLL_SECONDS: "7",
    });
    const plan = loadEnv(PlanRolloutEnvSchema, {
      TABLE_NAME: "t",
      PROFILE_NAMES: " demo , ctm ,",
      TARGET_TAG_KEY: "agent-rollout",
      TARGET_TAG_VALUE: "enabled",
    });

    // Assess
    expect(host).toMatchObject({
      INLINE_POLL_SECONDS: 7,
      DELIVERY_TIMEOUT_SECONDS: 600,
      LOG_LEVEL: "info",
    });
    expect(plan.PROFILE_NAMES).toEqual(["demo", "ctm"]);
  });
});

describe("logger", () => {
  it("writes one JSON line per entry with level, message and context, filtered by level", () => {
    // Prepare
    const lines: string[] = [];
    const log = createLogger({ level: "info", sink: (line) => lines.push(line) }).child({
      rolloutId: "r-1",
    });

    // Act
    log.debug("hidden");
    log.info("step finished", { hostId: "i-1", error: new HostStepFailedError("boom") });

    // Assess
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({
      level: "INFO",
      service: "agent-rollout",
      message: "step finished",
      rolloutId: "r-1",
      hostId: "i-1",
      error: { name: "HostStepFailedError", message: "boom" },
      timestamp: expect.any(String),
    });
  });
});

describe("middleware", () => {
  const schema = z.strictObject({ rolloutId: z.string().min(3), wave: z.int().default(0) });

  /** The handler factory's order: Logger context, validator, invocation logger. */
  const chain = (lines: string[]) => {
    const logger = newPowertoolsLogger("info", (line) => lines.push(line));
    return middy()
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(eventValidator({ schema }))
      .use(invocationLogger({ name: "test-fn", logger }));
  };

  it("replaces the event with the parsed one and logs start and end with its ids", async () => {
    // Prepare
    const lines: string[] = [];
    const handler = chain(lines)
      // The entry takes any event; the validator hands the handler the parsed one.
      .handler<unknown>(async (event) => event);

    // Act
    const result = await handler({ rolloutId: "r-1" }, context);

    // Assess
    expect(result).toEqual({ rolloutId: "r-1", wave: 0 });
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        message: "invocation start",
        function: "test-fn",
        function_request_id: "req-7",
        rolloutId: "r-1",
        wave: 0,
      }),
      expect.objectContaining({
        message: "invocation end",
        rolloutId: "r-1",
        durationMs: expect.any(Number),
      }),
    ]);
  });

  it("puts the invocation's correlation keys on every line, and only on that invocation's", async () => {
    // Prepare
    const lines: string[] = [];
    const logger = newPowertoolsLogger("info", (line) => lines.push(line));
    const hostSchema = z.strictObject({
      step: z.string(),
      host: z.strictObject({ rolloutId: z.string(), hostId: z.string(), wave: z.int() }),
    });
    const handler = middy()
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(eventValidator({ schema: z.union([hostSchema, schema]) }))
      .use(invocationLogger({ name: "test-fn", logger }))
      .handler<unknown>(async () => {
        logger.info("working");
      });

    // Act
    await handler({ step: "switch", host: { rolloutId: "r-1", hostId: "i-1", wave: 2 } }, context);
    await handler({ rolloutId: "r-2" }, context);

    // Assess
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed).toHaveLength(6);
    for (const line of parsed.slice(0, 3)) {
      expect(line).toMatchObject({ rolloutId: "r-1", hostId: "i-1", wave: 2, step: "switch" });
    }
    for (const line of parsed.slice(3)) {
      expect(line).toMatchObject({ rolloutId: "r-2", wave: 0 });
      expect(line).not.toHaveProperty("hostId");
      expect(line).not.toHaveProperty("step");
    }
  });

  it("refuses an invalid event with InvalidInputError naming the field, without calling the handler", async () => {
    // Prepare
    const body = vi.fn();
    const lines: string[] = [];
    const handler = chain(lines).handler<unknown>(body);

    // Act
    const result = handler({ rolloutId: "r", extra: 1 }, context);

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidInputError",
      message: "rolloutId: Too small: expected string to have >=3 characters; extra: unknown field",
    });
    expect(body).not.toHaveBeenCalled();
    expect(JSON.parse(lines.at(-1) ?? "")).toMatchObject({
      level: "ERROR",
      message: "invocation failed",
      function: "test-fn",
      error: { name: "InvalidInputError" },
    });
  });

  it("rethrows the handler's error unchanged", async () => {
    // Prepare
    const thrown = new FleetLockedError("locked", "other", 5);
    const handler = chain([]).handler<unknown>(async () => {
      throw thrown;
    });

    // Act
    const result = handler({ rolloutId: "r-1" }, context);

    // Assess
    await expect(result).rejects.toBe(thrown);
  });

  it("finds rollout and host ids wherever the event keeps them", () => {
    // Act
    const fromHost = eventIds({
      action: "send",
      step: "stage",
      host: { rolloutId: "r-1", wave: 2, hostId: "i-1" },
    });
    const fromTop = eventIds({ rolloutId: "r-2", wave: 0 });

    // Assess
    expect(fromHost).toEqual({ rolloutId: "r-1", hostId: "i-1", wave: 2, step: "stage" });
    expect(fromTop).toEqual({ rolloutId: "r-2", wave: 0 });
  });
});
