/**
 * The invariant check itself (invariant.ts), on a host of the second test agent: quiet
 * on a host that keeps (1)-(4), and naming each one a host breaks.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentUnderTest, type HostUnderTest, secondAgent } from "./agents-under-test.js";
import { invariantViolations } from "./invariant.js";

let work: string;
let agent: AgentUnderTest;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ar-invariant-check-test-"));
  agent = await secondAgent(work);
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Breaks the host in one way; returns what the check must report. */
type Breakage = (host: HostUnderTest) => Promise<{ pending?: string; expected: RegExp[] }>;

const stage2 = (host: HostUnderTest) => {
  const a = agent.artifacts["2.0.0"];
  if (a === undefined) throw new Error("2.0.0");
  return host.runStep("stage", {
    profile: "second",
    targetVersion: "2.0.0",
    artifactUrl: a.url,
    artifactSha256: a.sha256,
    rolloutId: "r-1",
  });
};

const breakages: ReadonlyArray<readonly [string, Breakage]> = [
  ["nothing broken", async () => ({ expected: [] })],
  [
    "(1) the listener down",
    async (host) => {
      execFileSync("bash", [join(host.agentRoot, "active", "secondctl"), "stop"], {
        env: { PATH: process.env.PATH, AR_HOST_ROOT: host.root },
      });
      return { expected: [/^\(1\) listeners alive: \[\]/, /^\(1\) a client is answered by null/] };
    },
  ],
  [
    "(2) the agent suspended",
    async (host) => {
      writeFileSync(join(host.root, "var", "scheduler", "second.state"), "Suspended\n");
      return { expected: [/^\(2\) the agent is left suspended/] };
    },
  ],
  [
    "(3) a release neither serving, recorded nor pending",
    async (host) => {
      await stage2(host);
      return { expected: [/^\(3\) .*bin-2\.0\.0 is neither serving, nor recorded for cleanup/] };
    },
  ],
  [
    "(3) kept: a staged release pending its switch",
    async (host) => {
      await stage2(host);
      return { pending: "2.0.0", expected: [] };
    },
  ],
  [
    "(4) the configuration of another release",
    async (host) => {
      writeFileSync(join(host.agentRoot, "etc", "agent.conf"), "version=2.0.0\n");
      return { expected: [/^\(4\) etc\/agent\.conf is not 1\.0\.0's/] };
    },
  ],
];

describe("the invariant check", () => {
  it.each(breakages)("reports %s", { timeout: 30_000 }, async (_name, breakHost) => {
    // Prepare
    const host = await agent.newHost(work);
    try {
      const { pending, expected } = await breakHost(host);

      // Act
      const last = await host.runStep("preflight", {
        profile: "second",
        targetVersion: "2.0.0",
        rolloutId: "r-1",
      });
      const violations = await invariantViolations(host, {
        step: "preflight",
        last,
        ledgerResults: [last],
        versionBefore: "1.0.0",
        pendingVersion: pending,
        jobsOn: new Map(),
      });

      // Assess
      expect(violations).toEqual(expected.map((re) => expect.stringMatching(re)));
    } finally {
      await host.destroy();
    }
  });
});
