/**
 * middy middlewares shared by the handlers, each a small factory
 * `(options) => ({before, after, onError})`. None of them swallows an error: Step
 * Functions Retry/Catch rules match on the error `name`, so errors leave unchanged.
 *
 * @module
 */
import type { MiddlewareObj, Request } from "@middy/core";
import type { z } from "zod";
import { describeError } from "./errors.js";
import { createLogger, type LogFields, type Logger, type LogLevel } from "./logger.js";
import { parseOrThrow } from "./schemas.js";

/**
 * The part of the Lambda context the handlers use. Local mode calls handlers
 * in-process with an object providing just these.
 */
export interface InvocationContext {
  /** Milliseconds left before the invocation times out. */
  getRemainingTimeInMillis(): number;
  /** Request id, logged with every line. */
  readonly awsRequestId: string;
}

/** Options of {@link eventValidator}. */
export interface EventValidatorOptions<S extends z.ZodType> {
  /** Schema of the event; the parsed value (defaults applied) replaces the event. */
  readonly schema: S;
}

/**
 * Validates the event; a mismatch throws `InvalidInputError` whose message names the
 * field (`host.instanceId: "x" is not an instance id …`). Typed as a middleware of
 * `z.output<S>` events, so that middy gives the handler after it the parsed type.
 */
export function eventValidator<S extends z.ZodType>(
  options: EventValidatorOptions<S>,
): MiddlewareObj<z.output<S>> {
  return {
    before: (request) => {
      request.event = parseOrThrow(options.schema, request.event);
    },
  };
}

/** Options of {@link invocationLogger}. */
export interface InvocationLoggerOptions {
  /** Function name in every line. */
  readonly name: string;
  /** Logger to use. @default JSON lines on stdout at `LOG_LEVEL` */
  readonly logger?: Logger;
}

/**
 * Logs the start, the end (with duration) and any error of each invocation, with the
 * rollout and host ids found in the event.
 */
export function invocationLogger(options: InvocationLoggerOptions): MiddlewareObj {
  const base = options.logger ?? createLogger({ level: logLevelFromEnv() });
  const started = new WeakMap<object, { at: number; log: Logger }>();
  const forRequest = (request: Request) => {
    let entry = started.get(request);
    if (entry === undefined) {
      const log = base.child({
        function: options.name,
        requestId: (request.context as Partial<InvocationContext>).awsRequestId,
        ...eventIds(request.event),
      });
      entry = { at: Date.now(), log };
      started.set(request, entry);
    }
    return entry;
  };
  return {
    before: (request) => {
      forRequest(request).log.info("invocation start");
    },
    after: (request) => {
      const { at, log } = forRequest(request);
      log.info("invocation end", { durationMs: Date.now() - at });
    },
    onError: (request) => {
      const { at, log } = forRequest(request);
      log.error("invocation failed", {
        durationMs: Date.now() - at,
        error: describeError(request.error),
      });
    },
  };
}

/** `LOG_LEVEL` if valid, else `info` (logging must work even when the rest of the env is bad). */
export function logLevelFromEnv(): LogLevel {
  const level = process.env.LOG_LEVEL;
  return level === "debug" || level === "info" || level === "warn" || level === "error"
    ? level
    : "info";
}

/** `rolloutId`, `hostId` and `wave` from an event, wherever the handler's shape keeps them. */
export function eventIds(event: unknown): LogFields {
  if (typeof event !== "object" || event === null) return {};
  const record = event as Record<string, unknown>;
  const host =
    typeof record.host === "object" && record.host !== null
      ? (record.host as Record<string, unknown>)
      : {};
  const fields: LogFields = {};
  const rolloutId = record.rolloutId ?? host.rolloutId;
  if (typeof rolloutId === "string") fields.rolloutId = rolloutId;
  if (typeof host.hostId === "string") fields.hostId = host.hostId;
  const wave = record.wave ?? host.wave;
  if (typeof wave === "number") fields.wave = wave;
  if (typeof record.step === "string") fields.step = record.step;
  return fields;
}
