/**
 * The environment the stack sets on each function against the env schema its handler
 * validates with (`FUNCTION_ENV_SCHEMAS`): the types tie them at build time, this ties
 * the synthesized values.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { FUNCTION_ENV_SCHEMAS, loadEnv } from "../../lambdas/common/env.js";
import { HANDLER_NAMES } from "../../lib/rollout-function.js";
import { type SynthesizedRollout, synthesizeRollout } from "../../local/synthesize.js";

/** Set by the house construct for every function, outside the handlers' schemas. */
const CONSTRUCT_VARIABLES = ["NODE_OPTIONS"];

let synth: SynthesizedRollout;

beforeAll(() => {
  synth = synthesizeRollout({ context: { artifactDirs: ["/srv/artifacts", "/opt/releases"] } });
});

describe("function environments", () => {
  it("has exactly one env schema per function of the stack", () => {
    expect(Object.keys(FUNCTION_ENV_SCHEMAS).sort()).toEqual([...HANDLER_NAMES].sort());
  });

  it.each(HANDLER_NAMES)("%s: the synthesized environment parses with its env schema", (name) => {
    // Prepare
    const environment = synth.functionEnvironments[name];
    if (environment === undefined) throw new Error(`no function ${name} in the template`);

    // Act
    const env = loadEnv(FUNCTION_ENV_SCHEMAS[name], environment);

    // Assess
    expect(env.TABLE_NAME).toBe(environment.TABLE_NAME);
  });

  it("gives plan-rollout the stack's artifactDirs", () => {
    // Act
    const env = loadEnv(
      FUNCTION_ENV_SCHEMAS["plan-rollout"],
      synth.functionEnvironments["plan-rollout"],
    );

    // Assess
    expect(env.ARTIFACT_DIRS).toEqual(["/srv/artifacts", "/opt/releases"]);
  });

  it.each(HANDLER_NAMES)("%s: sets no variable its env schema does not read", (name) => {
    // Prepare
    const known = [...Object.keys(FUNCTION_ENV_SCHEMAS[name].shape), ...CONSTRUCT_VARIABLES];

    // Act
    const unknown = Object.keys(synth.functionEnvironments[name] ?? {}).filter(
      (variable) => !known.includes(variable),
    );

    // Assess
    expect(unknown).toEqual([]);
  });
});
