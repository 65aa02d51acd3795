/**
 * Structured logging through Powertools for AWS Lambda's Logger: one JSON object per
 * line with `level`, `message`, `timestamp`, `service`, the Lambda context (added by
 * `injectLambdaContext`) and the correlation keys the handler factory appends from the
 * validated event (`rolloutId`, `hostId`, `wave`, `step`).
 *
 * Local mode runs the handlers inside its CLI process: with `LAMBDA_LOG_FILE` set, the
 * lines are appended to that file instead of stdout ({@link RolloutLogger} overrides
 * the Logger's `printLog` extension point), so they stay out of the CLI's output.
 *
 * Domain functions receive a {@link Logger}: a thin view of the container's Powertools
 * Logger that adds fixed fields (`child`), so a line logged deep in a domain function
 * carries both its own fields and the invocation's appended keys.
 *
 * @module
 */
import { appendFileSync } from "node:fs";
import { type LogItem, Logger as PowertoolsLogger } from "@aws-lambda-powertools/logger";
import type { ConstructorOptions } from "@aws-lambda-powertools/logger/types";

/** `service` of every log line and metric. */
export const SERVICE_NAME = "agent-rollout";

/** Log levels, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Fields attached to a line. Values must be JSON-serialisable (errors are handled). */
export type LogFields = Record<string, unknown>;

/** Where finished lines go; tests pass an array's `push`. */
export type LogSink = (line: string) => void;

/** Structured logger, as the domain functions see it. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/** `LAMBDA_LOG_FILE` when set and not empty (local mode). */
export function lambdaLogFile(): string | undefined {
  const file = process.env.LAMBDA_LOG_FILE;
  return file === undefined || file === "" ? undefined : file;
}

const SINKS = new WeakMap<PowertoolsLogger, LogSink>();

/**
 * Powertools Logger writing to a sink when one is given, else to `LAMBDA_LOG_FILE`
 * when set (read at each line), else to stdout as Powertools does.
 */
export class RolloutLogger extends PowertoolsLogger {
  /** @param options - Powertools options, and `sink` to collect lines (tests). */
  constructor(options: ConstructorOptions & { readonly sink?: LogSink } = {}) {
    const { sink, ...rest } = options;
    super(rest as ConstructorOptions);
    // Kept outside the instance: the Powertools constructor may log before a field exists.
    if (sink !== undefined) SINKS.set(this, sink);
  }

  protected override printLog(logLevel: number, log: LogItem): void {
    const file = lambdaLogFile();
    const sink =
      SINKS.get(this) ??
      (file === undefined ? undefined : (line: string) => appendFileSync(file, `${line}\n`));
    if (sink === undefined) {
      super.printLog(logLevel, log);
      return;
    }
    log.prepareForPrint();
    sink(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
  }

  protected override createLogger(options?: ConstructorOptions): PowertoolsLogger {
    return new RolloutLogger({ ...options, sink: SINKS.get(this) });
  }
}

/** The domain view of `base`, adding `fields` to every line. */
export function domainLogger(base: PowertoolsLogger, fields: LogFields = {}): Logger {
  const write =
    (level: LogLevel) =>
    (message: string, extra?: LogFields): void => {
      base[level](message, { ...fields, ...extra });
    };
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (more) => domainLogger(base, { ...fields, ...more }),
  };
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. @default "info" */
  readonly level?: LogLevel;
  /** Fields on every line. */
  readonly fields?: LogFields;
  /** Line writer. @default `LAMBDA_LOG_FILE`, else stdout */
  readonly sink?: LogSink;
}

/** A domain logger over a new Powertools Logger (tests; the handlers share the container's). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return domainLogger(newPowertoolsLogger(options.level ?? "info", options.sink), options.fields);
}

/** New Powertools Logger of the service at `level`. */
export function newPowertoolsLogger(level: LogLevel, sink?: LogSink): RolloutLogger {
  return new RolloutLogger({ serviceName: SERVICE_NAME, logLevel: level, sink });
}

/** Logger that drops everything (default for domain functions called without one). */
export const silentLogger: Logger = createLogger({ sink: () => {} });

let containerLogger: RolloutLogger | undefined;

/**
 * The container's Powertools Logger, created on first use at `LOG_LEVEL` (when valid,
 * else `info`: logging must work even when the rest of the environment is bad).
 */
export function getContainerLogger(): RolloutLogger {
  containerLogger ??= newPowertoolsLogger(logLevelFromEnv());
  return containerLogger;
}

/** `LOG_LEVEL` if valid, else `info`. */
export function logLevelFromEnv(): LogLevel {
  const level = process.env.LOG_LEVEL;
  return level === "debug" || level === "info" || level === "warn" || level === "error"
    ? level
    : "info";
}
