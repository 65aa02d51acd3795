/**
 * Issue #11's invariant (docs/contracts.md, "After any step ends") on real processes,
 * for two differently built agents: every hook failing, hanging, or with the step
 * killed while it runs; every step killed at each phase; the switch with the host
 * rebooted at each phase. After the faulty run and a retry, (1)-(4) must hold.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import {
  type AgentUnderTest,
  DEMO_PHASES,
  demoAgent,
  type Phases,
  SECOND_PHASES,
  secondAgent,
} from "./agents-under-test.js";
import { invariantCases, runInvariantCase } from "./invariant-cases.js";

let work: string;
const agents: Record<string, AgentUnderTest> = {};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ar-invariant-test-"));
  agents.demo = await demoAgent(work);
  agents.second = await secondAgent(work);
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const table: ReadonlyArray<readonly [string, Phases]> = [
  ["demo", DEMO_PHASES],
  ["second", SECOND_PHASES],
];

for (const [name, phases] of table) {
  describe.concurrent(`the invariant after any step ends, ${name} agent`, () => {
    for (const c of invariantCases(phases)) {
      it(`${c.step}: hook.${c.hook} ${c.fault}`, { timeout: 120_000 }, async ({ expect }) => {
        // Prepare, Act: see runInvariantCase.
        const agent = agents[name];
        if (agent === undefined) throw new Error(`agent ${name} not built`);
        const { violations, story } = await runInvariantCase(agent, c, work);

        // Assess
        expect(violations, story).toEqual([]);
      });
    }
  });
}
