/**
 * Lambda concurrency: a rollout's Map batch runs one host-step invocation per host at
 * a time, so `batchSize` bounds host-step's concurrency; plan-rollout enforces the
 * stack's bound (context `hostStepConcurrency`), which is reserved for host-step only
 * when set explicitly. nightly-cleanup runs one night at a time.
 */
import type { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { HANDLER_METADATA_KEY, HANDLER_NAMES } from "../../lib/rollout-function.js";
import { buildTemplate } from "./helpers.js";

/** Properties of the function of `handler`. */
function functionOf(template: Template, handler: string): Record<string, unknown> {
  const [fn] = Object.values(
    template.findResources("AWS::Lambda::Function", {
      Metadata: { [HANDLER_METADATA_KEY]: handler },
    }),
  );
  if (fn === undefined) throw new Error(`no function ${handler}`);
  return fn.Properties as Record<string, unknown>;
}

const envOf = (template: Template, handler: string) =>
  (functionOf(template, handler).Environment as { Variables: Record<string, unknown> }).Variables;

describe("Lambda concurrency", () => {
  it("bounds batchSize at 100 by default without reserving concurrency for host-step", () => {
    // Act
    const { template } = buildTemplate();

    // Assess
    expect(envOf(template, "plan-rollout").HOST_STEP_CONCURRENCY).toBe("100");
    const reserved = Object.fromEntries(
      HANDLER_NAMES.map((name) => [name, functionOf(template, name).ReservedConcurrentExecutions]),
    );
    expect(reserved).toEqual({
      "plan-rollout": undefined,
      "load-wave": undefined,
      "host-step": undefined,
      "record-host": undefined,
      "evaluate-wave": undefined,
      "finish-rollout": undefined,
      "nightly-cleanup": 1,
    });
  });

  it("reserves the hostStepConcurrency context for host-step and bounds batchSize with it", () => {
    // Act
    const { template } = buildTemplate({ hostStepConcurrency: "250" });

    // Assess
    expect(functionOf(template, "host-step").ReservedConcurrentExecutions).toBe(250);
    expect(envOf(template, "plan-rollout").HOST_STEP_CONCURRENCY).toBe("250");
    expect(functionOf(template, "nightly-cleanup").ReservedConcurrentExecutions).toBe(1);
  });
});
