/**
 * The one way a `lambdas/<name>/index.ts` builds its handler: middy with the
 * Powertools middlewares (Logger context, Tracer segment, Metrics flush), the event
 * validator and the invocation logger first, the domain function last.
 *
 * @module
 */
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import type { z } from "zod";
import { getTracer } from "./clients.js";
import { once } from "./deps.js";
import { FUNCTION_ENV_SCHEMAS, type FunctionEnv, type FunctionName, loadEnv } from "./env.js";
import { getContainerLogger } from "./logger.js";
import { containerMetricsPublisher } from "./metrics.js";
import { eventValidator, type InvocationContext, invocationLogger } from "./middleware.js";

/**
 * What each `lambdas/<name>/index.ts` exports as `handler`: Lambda's `(event, context)`
 * with the context reduced to what the handlers read, so local mode and tests can pass
 * just that. The event is whatever the invoker sends; the handler validates it.
 */
export type LambdaEntry<R> = (event: unknown, context: InvocationContext) => Promise<R>;

/** {@link FUNCTION_ENV_SCHEMAS} seen through their outputs, so that they index by a generic name. */
const ENV_SCHEMAS: { readonly [N in FunctionName]: z.ZodType<FunctionEnv<N>> } =
  FUNCTION_ENV_SCHEMAS;

/** Definition of a handler, see {@link defineHandler}. */
export interface HandlerDefinition<N extends FunctionName, S extends z.ZodType, D, R> {
  /** Folder under `lambdas/`: names the function in the logs and picks its env schema. */
  readonly name: N;
  /** Schema of the event; `run` receives its output (defaults applied). */
  readonly eventSchema: S;
  /**
   * Builds the dependencies (clients, store, configuration) from the validated
   * environment; called once per container, at the first invocation.
   */
  readonly deps: (env: FunctionEnv<N>) => D;
  /** The domain function. Its errors leave unchanged, `name` included. */
  readonly run: (deps: D, event: z.output<S>, context: InvocationContext) => Promise<R>;
}

/**
 * Builds a Lambda handler. Importing it has no side effect: the environment is read
 * and validated with the function's schema (`FUNCTION_ENV_SCHEMAS[name]`) at the first
 * invocation whose event is valid, then cached with the dependencies for the
 * container; a bad variable fails that invocation with a `ConfigurationError` naming it.
 *
 * The chain, in `before` order (`after`/`onError` run in reverse):
 * 1. `injectLambdaContext`: Lambda context on every line; the invocation's keys are
 *    reset when it ends;
 * 2. `captureLambdaHandler`: the X-Ray segment (no-op outside Lambda);
 * 3. `logMetrics`: flushes whatever metrics are still stored, even on error;
 * 4. the event validator: a bad event throws `InvalidInputError`;
 * 5. the invocation logger: appends `rolloutId`, `hostId`, `wave`, `step` from the
 *    validated event, logs start, end and failure.
 *
 * None of them replaces an error, so Step Functions' Retry/Catch still match its `name`
 * (`InvalidInputError`, `ConfigurationError`, …).
 */
export function defineHandler<N extends FunctionName, S extends z.ZodType, D, R>(
  definition: HandlerDefinition<N, S, D, R>,
): LambdaEntry<R> {
  const envSchema = ENV_SCHEMAS[definition.name];
  const deps = once(() => definition.deps(loadEnv(envSchema)));
  const logger = getContainerLogger();
  const handler = middy<unknown, R, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(captureLambdaHandler(getTracer(), { captureResponse: false }))
    .use(logMetrics(containerMetricsPublisher(logger)))
    .use(eventValidator({ schema: definition.eventSchema }))
    .use(invocationLogger({ name: definition.name, logger }))
    // The validator narrows the event to z.output<S> for `run`; the entry itself still
    // accepts any event, as Lambda delivers it.
    .handler<unknown, R>((event, context) => definition.run(deps(), event, context));
  // middy types the context as Lambda's whole Context; the middlewares and `run` read
  // only the InvocationContext part, and middy itself copes with a partial one.
  return (event, context) => handler(event, context as Context);
}
