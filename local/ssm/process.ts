/**
 * Runs one step's script the way the SSM agent does on Linux: `_script.sh` in the
 * step's orchestration directory, as the leader of a new process group so that a
 * timeout or a cancel can kill it with everything it started.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";

/** Output kept per stream; a runaway script must not exhaust the endpoint's memory. */
const MAX_CAPTURE_BYTES = 64 * 1024 * 1024;

/**
 * How long to wait for stdout/stderr to close once the group was killed. A process
 * that left the group (setsid) may still hold the pipes; after a kill the result must
 * not hang on it.
 */
const PIPE_GRACE_MS = 2_000;

/** Inputs of {@link StepProcess}. */
export interface StepProcessOptions {
  readonly scriptPath: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
}

/** How a step's process ended. */
export interface StepProcessResult {
  /** Exit status; 128 + signal number when a signal ended it. */
  readonly exitCode: number;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

class Capture {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  add(chunk: Buffer): void {
    if (this.size >= MAX_CAPTURE_BYTES) return;
    const room = MAX_CAPTURE_BYTES - this.size;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/**
 * One running step. The step is over when bash has exited **and** its stdout and
 * stderr are closed, as with the agent: a background process that keeps the pipes
 * open keeps the step InProgress until its timeout (scripts that start daemons must
 * redirect their output, exactly as on a real host).
 */
export class StepProcess {
  /** Settles when the step is over; never rejects. */
  readonly done: Promise<StepProcessResult>;
  private readonly child: ChildProcess;
  private timedOut = false;
  private cancelled = false;
  private killed = false;
  /** Once over, the group may still hold daemons the step started on purpose: never kill it then. */
  private over = false;
  private readonly timer: NodeJS.Timeout;
  private forceFinish: (() => void) | undefined;

  constructor(options: StepProcessOptions) {
    const startedAt = Date.now();
    const stdout = new Capture();
    const stderr = new Capture();
    this.child = spawn("bash", [options.scriptPath], {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (chunk: Buffer) => stdout.add(chunk));
    this.child.stderr?.on("data", (chunk: Buffer) => stderr.add(chunk));
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.killGroup();
    }, options.timeoutMs);

    this.done = new Promise<StepProcessResult>((resolve) => {
      let exitCode: number | undefined;
      const finish = () => {
        if (this.over || exitCode === undefined) return;
        this.over = true;
        clearTimeout(this.timer);
        resolve({
          exitCode,
          timedOut: this.timedOut,
          cancelled: this.cancelled && !this.timedOut,
          stdout: stdout.text(),
          stderr: stderr.text(),
          startedAt,
          endedAt: Date.now(),
        });
      };
      this.forceFinish = () => {
        this.child.stdout?.destroy();
        this.child.stderr?.destroy();
        finish();
      };
      this.child.on("error", (error) => {
        // bash could not be started: the agent reports a failed plugin with the reason on stderr.
        stderr.add(Buffer.from(`failed to run commands: ${error.message}\n`));
        exitCode ??= 1;
        finish();
      });
      this.child.on("exit", (code, signal) => {
        exitCode = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1);
        if (this.killed) setTimeout(() => this.forceFinish?.(), PIPE_GRACE_MS).unref();
      });
      this.child.on("close", () => finish());
    });
  }

  /** Kills the process group; the step ends Cancelled (unless it already timed out). */
  cancel(): void {
    this.cancelled = true;
    this.killGroup();
  }

  private killGroup(): void {
    const pid = this.child.pid;
    if (pid === undefined || this.over) return;
    this.killed = true;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // ESRCH: the whole group is already gone.
    }
    // When bash had already exited, the 'exit' handler will not run again: bound the wait for the pipes here.
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      setTimeout(() => this.forceFinish?.(), PIPE_GRACE_MS).unref();
    }
  }
}
