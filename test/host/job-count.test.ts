/**
 * preflight with `mode=jobCount`: the read-only probe LoadWave sends to order a
 * fewest-jobs rollout counts the jobs the agent runs (hook.listJobs) and changes nothing.
 */
import { describe, expect, it } from "vitest";
import { hostSuite } from "./harness.js";

const suite = hostSuite("ar-job-count-test-", [{ version: "1.0.0" }, { version: "2.0.0" }]);
const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-count" };

describe("preflight mode=jobCount", () => {
  it("counts the running jobs of a busy host and none on an idle one", async () => {
    // Prepare
    const busy = await suite.newHost();
    const idle = await suite.newHost();
    for (const id of ["job-a", "job-b", "job-c"]) {
      expect((await busy.submitJob(id, 30, 0)).status).toBe(202);
    }

    // Act
    const counted = await busy.runStep(
      "preflight",
      { ...params, mode: "jobCount" },
      {
        via: "document",
      },
    );
    const none = await idle.runStep("preflight", { ...params, mode: "jobCount" });

    // Assess
    expect([counted.code, counted.result]).toEqual([
      0,
      { step: "preflight", status: "COUNTED", currentVersion: "1.0.0", jobCount: 3 },
    ]);
    expect([none.code, none.result]).toEqual([
      0,
      { step: "preflight", status: "COUNTED", currentVersion: "1.0.0", jobCount: 0 },
    ]);
  });

  it("runs the full check when mode is left out (the document's default)", async () => {
    const host = await suite.newHost();

    const { code, result } = await host.runStep("preflight", params, { via: "document" });

    expect([code, result.status]).toEqual([0, "READY"]);
  });

  it("refuses a mode it does not know", async () => {
    const host = await suite.newHost();

    const { code } = await host.runStep("preflight", { ...params, mode: "count" });

    expect(code).toBe(2);
  });
});
