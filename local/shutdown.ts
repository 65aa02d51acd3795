import type { LocalSsm } from "./ssm/index.js";

/**
 * Waits until no command is running on any host, or `timeoutMs` passes.
 *
 * After Ctrl-C the execution stops starting new steps, but a switch already running
 * on a host is a critical section: stopping the SSM stand-in would kill it between
 * suspend and resume. Letting it end (seconds at most) leaves every host whole.
 * Commands still waiting for an offline host are not waited for: they never started.
 */
export async function waitForRunningCommands(ssm: LocalSsm, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let running = 0;
  do {
    running = ssm.invocations().filter((i) => i.status === "InProgress").length;
    if (running === 0) return 0;
    await new Promise((r) => setTimeout(r, 100));
  } while (Date.now() < deadline);
  return running;
}
