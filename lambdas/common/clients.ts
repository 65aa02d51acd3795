/**
 * AWS SDK clients, created once per container on first use. Each factory accepts an
 * endpoint: local mode sets `ENDPOINT_SSM`, `ENDPOINT_DYNAMODB`, `ENDPOINT_S3` to its
 * 127.0.0.1 stand-ins. Retries use the SDK's adaptive mode so that throttling
 * (`ThrottlingException`, common when a thousand hosts poll SSM at once) is retried
 * with backoff and client-side rate limiting instead of failing a host.
 *
 * The container's clients are instrumented by Powertools Tracer (one X-Ray subsegment
 * per AWS call); the Tracer is a no-op outside Lambda (local mode, tests) or with
 * `POWERTOOLS_TRACE_ENABLED=false`, and then returns the client untouched.
 *
 * @module
 */

import { Tracer } from "@aws-lambda-powertools/tracer";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SERVICE_NAME } from "./logger.js";

/** Attempts per request (first try included) before an error reaches our code. */
export const MAX_ATTEMPTS = 6;

/** Options shared by the client factories. */
export interface ClientOptions {
  /** Endpoint URL override (local mode); the SDK default when absent. */
  readonly endpoint?: string;
  /**
   * Region; the SDK's own resolution (AWS_REGION) when absent. With an endpoint and no
   * region anywhere, `us-east-1` is used since the local stand-ins ignore it.
   */
  readonly region?: string;
  /** Attempts per request. @default {@link MAX_ATTEMPTS} */
  readonly maxAttempts?: number;
  /** Instruments the SDK client (the container's tracer). @default none */
  readonly instrument?: <T extends SdkClient>(client: T) => T;
}

/** What {@link ClientOptions.instrument} receives: any AWS SDK v3 client. */
export type SdkClient = Parameters<Tracer["captureAWSv3Client"]>[0];

function commonConfig(options: ClientOptions) {
  const region =
    options.region ??
    process.env.AWS_REGION ??
    (options.endpoint === undefined ? undefined : "us-east-1");
  return {
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(region === undefined ? {} : { region }),
    retryMode: "adaptive",
    maxAttempts: options.maxAttempts ?? MAX_ATTEMPTS,
  };
}

/** New SSM client. */
export function createSsmClient(options: ClientOptions = {}): SSMClient {
  return instrumented(new SSMClient(commonConfig(options)), options);
}

/**
 * New DynamoDB document client. `removeUndefinedValues` lets optional item fields be
 * omitted by leaving them undefined.
 */
export function createDocumentClient(options: ClientOptions = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    instrumented(new DynamoDBClient(commonConfig(options)), options),
    {
      marshallOptions: { removeUndefinedValues: true },
    },
  );
}

/**
 * New S3 client. With an endpoint, path-style addressing: local stand-ins serve
 * `http://127.0.0.1:<port>/<bucket>/<key>`, not bucket subdomains.
 */
export function createS3Client(options: ClientOptions = {}): S3Client {
  return instrumented(
    new S3Client({
      ...commonConfig(options),
      ...(options.endpoint === undefined ? {} : { forcePathStyle: true }),
    }),
    options,
  );
}

function instrumented<T extends SdkClient>(client: T, options: ClientOptions): T {
  return options.instrument === undefined ? client : options.instrument(client);
}

let tracer: Tracer | undefined;

/** The container's Powertools Tracer (service `agent-rollout`). */
export function getTracer(): Tracer {
  tracer ??= new Tracer({ serviceName: SERVICE_NAME });
  return tracer;
}

const traced = <T extends SdkClient>(client: T): T => getTracer().captureAWSv3Client(client);

let ssm: SSMClient | undefined;
let documentClient: DynamoDBDocumentClient | undefined;
let s3: S3Client | undefined;

/** The container's SSM client (endpoint from `ENDPOINT_SSM`). */
export function getSsmClient(): SSMClient {
  ssm ??= createSsmClient({ endpoint: nonEmpty(process.env.ENDPOINT_SSM), instrument: traced });
  return ssm;
}

/** The container's DynamoDB document client (endpoint from `ENDPOINT_DYNAMODB`). */
export function getDocumentClient(): DynamoDBDocumentClient {
  documentClient ??= createDocumentClient({
    endpoint: nonEmpty(process.env.ENDPOINT_DYNAMODB),
    instrument: traced,
  });
  return documentClient;
}

/** The container's S3 client (endpoint from `ENDPOINT_S3`). */
export function getS3Client(): S3Client {
  s3 ??= createS3Client({ endpoint: nonEmpty(process.env.ENDPOINT_S3), instrument: traced });
  return s3;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
