/**
 * The execution input of `start`: a JSON file, flags, or both (flags win), checked
 * with the schema PlanRollout uses before anything is started.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type RolloutInput, RolloutInputSchema } from "../lambdas/common/schemas.js";
import { UsageError } from "../local/usage-error.js";

/** The `start` flags that set an input field (parsed with node:util parseArgs). */
export interface InputFlags {
  readonly input?: string;
  readonly "target-version"?: string;
  readonly "artifact-url"?: string;
  readonly "artifact-sha256"?: string;
  readonly profile?: string;
  readonly "instance-ids"?: string;
  readonly tag?: readonly string[];
  readonly "batch-size"?: string;
  readonly canary?: string;
  readonly "wave-size"?: string;
  readonly "failure-threshold"?: string;
  readonly "bake-seconds"?: string;
  readonly fleet?: string;
  readonly "dry-run"?: boolean;
  readonly "lock-ttl-seconds"?: string;
  readonly "break-lock"?: string;
}

const INT_FLAGS = {
  "batch-size": "batchSize",
  canary: "canary",
  "wave-size": "waveSize",
  "failure-threshold": "failureThreshold",
  "bake-seconds": "bakeSeconds",
  "lock-ttl-seconds": "lockTtlSeconds",
} as const;

/** Raised for an input the schema refuses: one line per field. */
export class InvalidInputError extends UsageError {
  constructor(readonly issues: readonly string[]) {
    super(`invalid execution input (nothing started):\n  ${issues.join("\n  ")}`);
  }
}

/** The raw input: the file's JSON with the flags laid over it. */
export async function rawInput(flags: InputFlags): Promise<Record<string, unknown>> {
  let input: Record<string, unknown> = {};
  if (flags.input !== undefined) {
    let text: string;
    try {
      text = await readFile(flags.input, "utf8");
    } catch {
      throw new UsageError(`--input ${flags.input}: cannot read the file`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`--input ${flags.input}: not JSON (${(error as Error).message})`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new UsageError(`--input ${flags.input}: the execution input must be a JSON object`);
    }
    input = { ...(parsed as Record<string, unknown>) };
  }
  const set = (key: string, value: unknown) => {
    if (value !== undefined) input[key] = value;
  };
  set("targetVersion", flags["target-version"]);
  if (flags["artifact-url"] !== undefined || flags["artifact-sha256"] !== undefined) {
    const artifact = (input.artifact ?? {}) as Record<string, unknown>;
    input.artifact = {
      ...artifact,
      ...(flags["artifact-url"] === undefined ? {} : { url: flags["artifact-url"] }),
      ...(flags["artifact-sha256"] === undefined ? {} : { sha256: flags["artifact-sha256"] }),
    };
  }
  set("profile", flags.profile);
  if (flags["instance-ids"] !== undefined || (flags.tag?.length ?? 0) > 0) {
    const hosts: Record<string, unknown> = {};
    if (flags["instance-ids"] !== undefined)
      hosts.instanceIds = flags["instance-ids"].split(",").filter((id) => id !== "");
    if (flags.tag !== undefined && flags.tag.length > 0) {
      hosts.tags = Object.fromEntries(
        flags.tag.map((pair) => {
          const at = pair.indexOf("=");
          if (at <= 0) throw new UsageError(`--tag must be KEY=VALUE, got "${pair}"`);
          return [pair.slice(0, at), pair.slice(at + 1)];
        }),
      );
    }
    input.hosts = hosts;
  }
  for (const [flag, field] of Object.entries(INT_FLAGS)) {
    const raw = flags[flag as keyof typeof INT_FLAGS];
    if (raw === undefined) continue;
    if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag} must be a whole number, got "${raw}"`);
    input[field] = Number(raw);
  }
  set("fleet", flags.fleet);
  if (flags["dry-run"]) input.dryRun = true;
  set("breakLock", flags["break-lock"]);
  return input;
}

/** Checks `raw` as PlanRollout will; {@link InvalidInputError} names every bad field. */
export function validateInput(raw: unknown): RolloutInput {
  const result = RolloutInputSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new InvalidInputError(
    result.error.issues.map((issue) => `${issue.path.join(".") || "(input)"}: ${issue.message}`),
  );
}

/** A fresh rollout id: `r-<UTC date and time>-<4 hex>`, a valid execution name. */
export function newRolloutId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `r-${stamp}-${randomBytes(2).toString("hex")}`;
}
