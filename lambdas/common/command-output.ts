/**
 * Reading a host script's result from a finished SSM command invocation.
 *
 * A script prints exactly one JSON line, last, on stdout, right after the integrity
 * line `result-sha256 <hex>` (docs/contracts.md). SSM returns only the first 24,000
 * characters of stdout inline; the whole stdout is in the S3 object named by the
 * invocation's `StandardOutputUrl` (the command is sent with `OutputS3BucketName`).
 * A switch on a host running thousands of jobs prints a line longer than that, so the
 * S3 copy is read whenever the inline copy may be cut.
 *
 * Every managed host may write under the bucket's `commands/` prefix (IAM cannot tie
 * the object key to the instance; docs/aws-fidelity.md), so an S3 copy could have been
 * written by another host. The inline copy comes from GetCommandInvocation for this
 * very instance and always holds the integrity line: an S3 copy is accepted only when
 * its result line hashes to that digest.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { CommandOutputError } from "./errors.js";
import type { JobEntry } from "./schemas.js";

/** Characters of stdout SSM returns inline (`StandardOutputContent`). */
export const INLINE_STDOUT_LIMIT = 24_000;

/** The invocation fields this module reads (as in GetCommandInvocation's output). */
export interface InvocationOutput {
  readonly StandardOutputContent?: string;
  readonly StandardOutputUrl?: string;
}

/** The integrity line a host script prints before its result line. */
const INTEGRITY_LINE = /^result-sha256 ([0-9a-f]{64})$/;

/** Where the full output came from, with the parsed result line. */
export interface CommandResultLine {
  /** The last line of stdout, parsed. */
  readonly line: Record<string, unknown>;
  /** `inline` when StandardOutputContent sufficed, else `s3`. */
  readonly source: "inline" | "s3";
}

/** The last non-blank line of `stdout`, as printed (without its newline). */
function lastLine(stdout: string): string | undefined {
  const lines = stdout.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? "";
    if (line.trim() !== "") return line;
  }
  return undefined;
}

/** `line` parsed as a JSON object, or undefined. */
function parseJsonObject(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The last non-blank line of `stdout` parsed as a JSON object, or undefined. */
export function parseLastJsonLine(stdout: string): Record<string, unknown> | undefined {
  const line = lastLine(stdout);
  return line === undefined ? undefined : parseJsonObject(line.trim());
}

/** sha256 (hex) of the last non-blank line of `stdout`, as printed: what the integrity line announces. */
export function lastLineSha256(stdout: string): string {
  return createHash("sha256")
    .update(lastLine(stdout) ?? "", "utf8")
    .digest("hex");
}

/**
 * The digest of the integrity line (`result-sha256 <hex>`) in a stdout, or undefined.
 * Only whole lines count; the last one wins.
 */
export function findResultDigest(stdout: string): string | undefined {
  const lines = stdout.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = INTEGRITY_LINE.exec((lines[i] ?? "").trim());
    if (match?.[1] !== undefined) return match[1];
  }
  return undefined;
}

/**
 * Bucket and key of an S3 object URL as SSM reports it:
 * `https://s3.<region>.amazonaws.com/<bucket>/<key>`,
 * `https://s3.amazonaws.com/<bucket>/<key>` or
 * `https://<bucket>.s3.<region>.amazonaws.com/<key>`. Undefined for anything else.
 */
export function parseS3Url(url: string): { bucket: string; key: string } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "https:") return undefined;
  const host = parsed.hostname;
  const path = parsed.pathname.replace(/^\//, "");
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return undefined;
    }
  };
  // Path style: s3.amazonaws.com, s3.<region>.amazonaws.com, s3-<region>.amazonaws.com
  if (/^s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?$/.test(host)) {
    const slash = path.indexOf("/");
    if (slash <= 0 || slash === path.length - 1) return undefined;
    const key = decode(path.slice(slash + 1));
    return key === undefined ? undefined : { bucket: path.slice(0, slash), key };
  }
  // Virtual-hosted style: <bucket>.s3.<region>.amazonaws.com or <bucket>.s3.amazonaws.com
  const virtual = /^(.+)\.s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?$/.exec(host);
  if (virtual?.[1] !== undefined && path !== "") {
    const key = decode(path);
    return key === undefined ? undefined : { bucket: virtual[1], key };
  }
  return undefined;
}

/**
 * The result line of a finished invocation: from the inline stdout when it is complete
 * and its last line parses, else from the S3 copy, which is accepted only when its
 * result line hashes to the digest of the inline copy's integrity line. Undefined when
 * no copy holds a result line (e.g. a script that died before printing).
 *
 * @param expectedBucket - refuse URLs outside the command output bucket
 * @throws CommandOutputError when the inline copy is cut and the S3 copy cannot be read
 *   or verified: no S3 output, an unexpected URL, no integrity line inline, a missing
 *   object, or a result line whose sha256 is not the inline digest
 */
export async function readResultLine(
  invocation: InvocationOutput,
  s3: S3Client,
  expectedBucket?: string,
): Promise<CommandResultLine | undefined> {
  const inline = invocation.StandardOutputContent ?? "";
  const maybeCut = inline.length >= INLINE_STDOUT_LIMIT;
  const inlineLine = maybeCut ? undefined : parseLastJsonLine(inline);
  if (inlineLine !== undefined) return { line: inlineLine, source: "inline" };

  const url = invocation.StandardOutputUrl ?? "";
  if (url === "") {
    if (maybeCut) {
      throw new CommandOutputError(
        "stdout was truncated by SSM and the command has no S3 output to read it from",
      );
    }
    return undefined;
  }
  const location = parseS3Url(url);
  if (location === undefined) {
    throw new CommandOutputError(`unrecognised StandardOutputUrl ${url}`);
  }
  if (expectedBucket !== undefined && location.bucket !== expectedBucket) {
    throw new CommandOutputError(
      `StandardOutputUrl points to bucket ${location.bucket}, not the output bucket ${expectedBucket}`,
    );
  }
  const digest = findResultDigest(inline);
  if (digest === undefined) {
    // Nothing ties an S3 object to this instance: without the digest it is not read.
    if (maybeCut) {
      throw new CommandOutputError(
        `stdout was truncated by SSM and its inline copy has no result-sha256 line to verify ${url} with`,
      );
    }
    return undefined;
  }
  let stdout: string;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    stdout = (await out.Body?.transformToString("utf-8")) ?? "";
  } catch (error) {
    // The object appears shortly after the invocation ends; a missing object is only
    // an error when the inline copy had nothing usable either.
    if (error instanceof Error && (error.name === "NoSuchKey" || error.name === "NotFound")) {
      if (maybeCut) throw new CommandOutputError(`output object ${url} is missing`);
      return undefined;
    }
    throw error;
  }
  const text = lastLine(stdout);
  const actual = lastLineSha256(stdout);
  if (actual !== digest) {
    throw new CommandOutputError(
      `result line of ${url} does not match the instance's inline result-sha256: expected ${digest}, got ${actual}`,
    );
  }
  const line = text === undefined ? undefined : parseJsonObject(text.trim());
  return line === undefined ? undefined : { line, source: "s3" };
}

/**
 * sha256 (hex) of a job snapshot file as the switch writes it: one
 * `<jobId> <pid> <startTicks>\n` line per job, in order.
 */
export function jobSnapshotSha256(items: readonly JobEntry[]): string {
  const hash = createHash("sha256");
  for (const [jobId, pid, startTicks] of items) hash.update(`${jobId} ${pid} ${startTicks}\n`);
  return hash.digest("hex");
}

/**
 * Checks that a switch's reported jobs are the snapshot file it wrote: the count and
 * the sha256 must match the items. Cleanup later deletes the old release only when
 * the host's snapshot file still has this sha256, so a mismatch here must stop the
 * host rather than record jobs that differ from the file.
 */
export function verifyJobSnapshot(jobs: {
  count: number;
  sha256: string;
  items: readonly JobEntry[];
}): void {
  if (jobs.count !== jobs.items.length) {
    throw new CommandOutputError(
      `switch reported ${jobs.count} jobs but listed ${jobs.items.length}`,
    );
  }
  const actual = jobSnapshotSha256(jobs.items);
  if (actual !== jobs.sha256) {
    throw new CommandOutputError(
      `job snapshot sha256 mismatch: reported ${jobs.sha256}, computed ${actual} over ${jobs.items.length} jobs`,
    );
  }
}
