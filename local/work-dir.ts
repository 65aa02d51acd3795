/**
 * Guards of a local-mode work directory, checked before anything is started or
 * changed: that it can be written, and that no other CLI uses it (the ledger's
 * database files and the fleet's processes belong to one CLI at a time).
 *
 * @module
 */
import {
  accessSync,
  constants,
  existsSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";

/** A work directory local mode cannot use; the message names the path and why. */
export class WorkDirError extends Error {
  override readonly name = "WorkDirError";
}

/**
 * Refuses a work directory local mode could not write: the directory itself when it
 * exists, else the nearest existing parent it would be created in. Changes nothing.
 */
export function checkWritable(workDir: string): void {
  let dir = workDir;
  while (!existsSync(dir)) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  if (!statSync(dir).isDirectory())
    throw new WorkDirError(`work dir ${workDir}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === "EROFS" ? "is on a read-only file system" : "is not writable";
    throw new WorkDirError(
      `work dir ${workDir}: ${dir} ${why} (${code ?? "EACCES"}); pick another with --work-dir DIR`,
    );
  }
}

/** True when a process with this pid runs (one owned by another user included). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

/** The file holding the pid of the CLI that uses a work directory. */
export const lockFile = (workDir: string): string => join(workDir, "cli.pid");

/**
 * Takes the work directory for this process: writes its pid into `cli.pid`, unless
 * another live CLI holds it (then refused with that pid). A lock left by a dead
 * process is stale and taken over. Returns the release function.
 */
export function lockWorkDir(workDir: string): () => void {
  const file = lockFile(workDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      return () => {
        if (readPid(file) === process.pid) rmSync(file, { force: true });
      };
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
    }
    const holder = readPid(file);
    if (holder !== undefined && holder !== process.pid && pidAlive(holder)) {
      throw new WorkDirError(
        `work dir ${workDir} is in use by another agent-rollout CLI (pid ${holder}); ` +
          "wait for it to end, or use another --work-dir",
      );
    }
    rmSync(file, { force: true });
  }
  throw new WorkDirError(`work dir ${workDir}: cannot take ${file}`);
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
