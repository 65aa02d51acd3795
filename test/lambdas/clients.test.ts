/**
 * The client factories against a local HTTP endpoint: endpoint override, path-style
 * S3, and retries of throttled calls by the SDK's adaptive retry mode.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { GetCommandInvocationCommand } from "@aws-sdk/client-ssm";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  createDocumentClient,
  createS3Client,
  createSsmClient,
  MAX_ATTEMPTS,
} from "../../lambdas/common/clients.js";

type Reply = { status: number; body: string; headers?: Record<string, string> };

let server: Server;
let endpoint: string;
let replies: Reply[] = [];
const requests: { method?: string; url?: string; target?: string }[] = [];

beforeAll(async () => {
  vi.stubEnv("AWS_ACCESS_KEY_ID", "test");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "test");
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on("end", () => {
      requests.push({
        method: req.method,
        url: req.url,
        target: req.headers["x-amz-target"] as string | undefined,
      });
      const reply = replies.shift() ?? { status: 500, body: "{}" };
      res.writeHead(reply.status, {
        "content-type": "application/x-amz-json-1.1",
        ...reply.headers,
      });
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  replies = [];
  requests.length = 0;
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const throttled = (type: string): Reply => ({
  status: 400,
  body: JSON.stringify({ __type: type, message: "Rate exceeded" }),
});

describe("client factories", () => {
  it("retries SSM ThrottlingException with backoff instead of failing", async () => {
    // Prepare
    replies = [
      throttled("ThrottlingException"),
      throttled("ThrottlingException"),
      {
        status: 200,
        body: JSON.stringify({ CommandId: "c-1", InstanceId: "i-1", Status: "Success" }),
      },
    ];
    const ssm = createSsmClient({ endpoint, region: "eu-west-1" });

    // Act
    const out = await ssm.send(
      new GetCommandInvocationCommand({ CommandId: "c-1", InstanceId: "i-1" }),
    );

    // Assess
    expect(out.Status).toBe("Success");
    expect(requests).toHaveLength(3);
    expect(requests.every((r) => r.target === "AmazonSSM.GetCommandInvocation")).toBe(true);
  });

  it("retries DynamoDB throughput errors through the document client", async () => {
    // Prepare
    replies = [
      throttled("com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"),
      throttled("com.amazonaws.dynamodb.v20120810#ThrottlingException"),
      { status: 200, body: JSON.stringify({ Item: { pk: { S: "a" }, n: { N: "3" } } }) },
    ];
    const documents = createDocumentClient({ endpoint, region: "eu-west-1" });

    // Act
    const out = await documents.send(new GetCommand({ TableName: "t", Key: { pk: "a" } }));

    // Assess
    expect(out.Item).toEqual({ pk: "a", n: 3 });
    expect(requests).toHaveLength(3);
    expect(requests[0]?.target).toBe("DynamoDB_20120810.GetItem");
  });

  it(`gives up after ${MAX_ATTEMPTS} attempts`, async () => {
    // Prepare
    replies = Array.from({ length: 10 }, () => ({
      status: 500,
      body: JSON.stringify({ __type: "InternalServerError" }),
    }));
    const ssm = createSsmClient({ endpoint, region: "eu-west-1" });

    // Act
    const result = ssm.send(
      new GetCommandInvocationCommand({ CommandId: "c-1", InstanceId: "i-1" }),
    );

    // Assess
    await expect(result).rejects.toMatchObject({ name: "InternalServerError" });
    expect(requests).toHaveLength(MAX_ATTEMPTS);
  });

  it("addresses S3 path-style when given an endpoint", async () => {
    // Prepare
    replies = [{ status: 200, body: "hello", headers: { "content-type": "text/plain" } }];
    const s3 = createS3Client({ endpoint, region: "eu-west-1" });

    // Act
    const out = await s3.send(
      new GetObjectCommand({ Bucket: "rollout-output", Key: "commands/r-1/stdout" }),
    );

    // Assess
    expect(await out.Body?.transformToString()).toBe("hello");
    expect(requests[0]).toMatchObject({
      method: "GET",
      url: expect.stringMatching(/^\/rollout-output\/commands\/r-1\/stdout/),
    });
  });

  it("creates each container client once, on first use, at the ENDPOINT_* address", async () => {
    // Prepare
    vi.stubEnv("ENDPOINT_SSM", endpoint);
    vi.stubEnv("AWS_REGION", "eu-west-1");
    vi.resetModules();
    const clients = await import("../../lambdas/common/clients.js");
    replies = [{ status: 200, body: JSON.stringify({ CommandId: "c-1", Status: "Pending" }) }];

    // Act
    const first = clients.getSsmClient();
    const second = clients.getSsmClient();
    const out = await first.send(
      new GetCommandInvocationCommand({ CommandId: "c-1", InstanceId: "i-1" }),
    );

    // Assess
    expect(second).toBe(first);
    expect(out.Status).toBe("Pending");
    expect(requests).toHaveLength(1);
  });
});
