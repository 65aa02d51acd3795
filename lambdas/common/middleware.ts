/**
 * middy middlewares shared by the handlers, each a small factory
 * `(options) => ({before, after, onError})`. None of them swallows an error: Step
 * Functions Retry/Catch rules match on the error `name`, so errors leave unchanged.
 *
 * @module
 */
import type { Logger as PowertoolsLogger } from "@aws-lambda-powertools/logger";
import type { MiddlewareObj, Request } from "@middy/core";
import type { z } from "zod";
import { describeError } from "./errors.js";
import type { LogFields } from "./logger.js";
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
  /** Function name, appended as `function` to every line. */
  readonly name: string;
  /** The Powertools Logger the chain's `injectLambdaContext` also uses. */
  readonly logger: PowertoolsLogger;
}

/**
 * Appends the correlation keys of the event (`rolloutId`, `hostId`, `wave`, `step`,
 * see {@link eventIds}) to the logger for the invocation, then logs its start, its end
 * (with duration) and any error. Placed after the event validator, the keys come from
 * the validated event; when validation fails, `onError` appends what the raw event
 * has, so the failure line is still correlated. `injectLambdaContext({resetKeys})`,
 * earlier in the chain, removes the keys after the invocation.
 */
export function invocationLogger(options: InvocationLoggerOptions): MiddlewareObj {
  const { logger } = options;
  const started = new WeakMap<object, number>();
  const correlate = (request: Request) => {
    if (!started.has(request)) {
      logger.appendKeys({ function: options.name, ...eventIds(request.event) });
      started.set(request, Date.now());
    }
    return Date.now() - (started.get(request) ?? Date.now());
  };
  return {
    before: (request) => {
      correlate(request);
      logger.info("invocation start");
    },
    after: (request) => {
      logger.info("invocation end", { durationMs: correlate(request) });
    },
    onError: (request) => {
      const durationMs = correlate(request);
      logger.error("invocation failed", { durationMs, error: describeError(request.error) });
    },
  };
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
