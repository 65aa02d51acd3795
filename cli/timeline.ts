/**
 * Per-host timeline segments over wall time, from the ledger's host items.
 *
 * A step ran from `<step>EndedAt - stepMs` to `<step>EndedAt`. Older items lack the
 * end times: their steps are laid back to back, ending at `updatedAt` (marked
 * approximate). The ledger records the suspend window's and the listener gap's
 * lengths, not their start: they are drawn at the end of the switch, where the
 * cutover resumes the agent (the switch's last act before its result).
 *
 * @module
 */
import type { Host } from "../lambdas/common/ledger/index.js";
import { stepEndedAtField } from "../lambdas/common/ledger/index.js";
import type { StepName } from "../lambdas/common/schemas.js";

/** What a segment shows. */
export type SegmentKind = StepName | "suspend" | "gap";

/** A span of a host's timeline, epoch ms. */
export interface Segment {
  readonly kind: SegmentKind;
  readonly start: number;
  readonly end: number;
}

/** A host's timeline. */
export interface HostTimeline {
  readonly segments: readonly Segment[];
  /** When the host's result was known (its last step's end, or its last update). */
  readonly resultAt: number;
  /** True when the steps' times were reconstructed from their lengths. */
  readonly approximate: boolean;
}

// A rollback follows the switch when the host was found not serving after it; it is
// the host's only step in a whole-rollout rollback.
const STEPS: readonly StepName[] = ["preflight", "stage", "switch", "rollback"];

/** The segments of one host. */
export function hostTimeline(host: Host): HostTimeline {
  const updatedAt = Date.parse(host.updatedAt);
  const ran = STEPS.filter((step) => host.stepMs[step] !== undefined);
  const segments: Segment[] = [];
  let approximate = false;
  // Walk back from the last step, so that steps without an end time follow the next one.
  let nextStart = updatedAt;
  for (const step of [...ran].reverse()) {
    const length = host.stepMs[step] ?? 0;
    const recorded = host[stepEndedAtField(step)];
    if (recorded === undefined) approximate = true;
    const end = recorded === undefined ? nextStart : Date.parse(recorded);
    segments.unshift({ kind: step, start: end - length, end });
    nextStart = end - length;
  }
  // The cutover ends the switch, or the rollback of a whole-rollout rollback.
  const sw = segments.find((s) => s.kind === "switch" || s.kind === "rollback");
  if (sw !== undefined && host.suspendMs !== undefined) {
    const suspendStart = Math.max(sw.start, sw.end - host.suspendMs);
    segments.push({ kind: "suspend", start: suspendStart, end: sw.end });
    if (host.listenerGapMs !== undefined) {
      segments.push({
        kind: "gap",
        start: Math.max(suspendStart, sw.end - host.listenerGapMs),
        end: sw.end,
      });
    }
  }
  const last = segments.reduce((max, s) => Math.max(max, s.end), Number.NEGATIVE_INFINITY);
  return { segments, resultAt: Number.isFinite(last) ? last : updatedAt, approximate };
}
