/**
 * Structured logging: one JSON object per line with `level`, `message`, a timestamp
 * and whatever context is known (`rolloutId`, `hostId`, `requestId`, …).
 *
 * Lines go through a private `Console` bound to the process streams rather than the
 * global `console`, which the Lambda runtime patches (with the JSON log format it
 * would wrap our JSON line in another JSON object's `message`).
 *
 * @module
 */
import { Console } from "node:console";
import { appendFileSync } from "node:fs";

/** Log levels, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Fields attached to a line. Values must be JSON-serialisable. */
export type LogFields = Record<string, unknown>;

/** Where finished lines go; tests pass an array's `push`. */
export type LogSink = (line: string) => void;

/** Structured logger. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

let processConsole: Console | undefined;

/**
 * stdout, or the file named by `LAMBDA_LOG_FILE` when set: local mode runs the
 * handlers inside its CLI process and keeps their lines out of its own output.
 */
function defaultSink(line: string): void {
  const file = process.env.LAMBDA_LOG_FILE;
  if (file !== undefined && file !== "") {
    appendFileSync(file, `${line}\n`);
    return;
  }
  processConsole ??= new Console({ stdout: process.stdout, stderr: process.stderr });
  processConsole.log(line);
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. @default "info" */
  readonly level?: LogLevel;
  /** Fields on every line. */
  readonly fields?: LogFields;
  /** Line writer. @default stdout */
  readonly sink?: LogSink;
}

/** Creates a logger writing JSON lines. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const minimum = RANK[options.level ?? "info"];
  const base = options.fields ?? {};
  const sink = options.sink ?? defaultSink;
  const write = (level: LogLevel, message: string, fields?: LogFields) => {
    if (RANK[level] < minimum) return;
    const line = { timestamp: new Date().toISOString(), level, message, ...base, ...fields };
    sink(JSON.stringify(line, replacer));
  };
  return {
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** Logger that drops everything (default for domain functions called without one). */
export const silentLogger: Logger = createLogger({ sink: () => {} });

/** Errors serialise to `{name, message}` instead of `{}`. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return value.toString();
  return value;
}
