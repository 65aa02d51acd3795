/**
 * The wire: an HTTP server on 127.0.0.1 that routes AWS JSON 1.1 requests by
 * `X-Amz-Target` to the operation handlers, answers errors in the protocol's shape,
 * serves path-style S3 GetObject/HeadObject of command output, counts calls and
 * injects throttling.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SsmApiError } from "./errors.js";
import type { Json } from "./protocol.js";
import { serveObject } from "./s3.js";

const MAX_BODY_BYTES = 16 * 1024 * 1024;
const CONTENT_TYPE = "application/x-amz-json-1.1";

/** One operation: a decoded request body in, a response body out (or an SsmApiError thrown). */
export type Handler = (input: Json) => Promise<Json> | Json;

/** Operation name (the part of `X-Amz-Target` after `AmazonSSM.`) -> handler. */
export type Handlers = Readonly<Record<string, Handler>>;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new SsmApiError("SerializationException", "Request body too large.");
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function sendError(res: ServerResponse, error: SsmApiError): void {
  const text = JSON.stringify({ __type: error.name, message: error.message });
  res.writeHead(error.statusCode, {
    "content-type": CONTENT_TYPE,
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
    "x-amzn-errortype": error.name,
  });
  res.end(text);
}

/** The HTTP side of the endpoint. */
export class ApiTransport {
  private readonly server: Server;
  private readonly calls: Record<string, number> = {};
  private readonly throttles = new Map<string, number>();

  /**
   * @param handlers the SSM operations served.
   * @param outputDir directory standing for S3, served read-only.
   */
  constructor(
    private readonly handlers: Handlers,
    private readonly outputDir: string,
  ) {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          sendError(res, new SsmApiError("InternalServerError", String(error), 500));
        } else {
          res.destroy();
        }
      });
    });
  }

  /** Listens on a random port of 127.0.0.1. @returns the endpoint URL. */
  async listen(): Promise<string> {
    await new Promise<void>((resolveListen, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolveListen();
      });
    });
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolveClose) => {
      this.server.close(() => resolveClose());
      // The SDK keeps sockets alive; without this close() would wait for them to time out.
      this.server.closeAllConnections();
    });
  }

  /** Makes the next `times` calls of `operation` fail with ThrottlingException. */
  injectThrottling(operation: string, times: number): void {
    if (!Number.isInteger(times) || times < 0) {
      throw new Error(`times must be a non-negative integer, got ${times}`);
    }
    this.throttles.set(operation, (this.throttles.get(operation) ?? 0) + times);
  }

  /** Calls received per operation (throttled ones included). */
  callCounts(): Record<string, number> {
    return { ...this.calls };
  }

  private count(operation: string): void {
    this.calls[operation] = (this.calls[operation] ?? 0) + 1;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers["x-amz-target"];
    if (req.method === "POST" && typeof target === "string") {
      await this.handleSsm(req, res, target);
      return;
    }
    if (req.method === "GET" || req.method === "HEAD") {
      this.count(req.method === "GET" ? "GetObject" : "HeadObject");
      await serveObject(req, res, this.outputDir);
      return;
    }
    sendError(res, new SsmApiError("UnknownOperationException", "Unsupported request."));
  }

  private async handleSsm(
    req: IncomingMessage,
    res: ServerResponse,
    target: string,
  ): Promise<void> {
    const dot = target.indexOf(".");
    const service = target.slice(0, dot);
    const operation = target.slice(dot + 1);
    this.count(operation);
    try {
      const body = await readBody(req);
      const handler = service === "AmazonSSM" ? this.handlers[operation] : undefined;
      if (!handler) {
        throw new SsmApiError("UnknownOperationException", `Operation ${target} is not supported.`);
      }
      const pending = this.throttles.get(operation) ?? 0;
      if (pending > 0) {
        this.throttles.set(operation, pending - 1);
        throw new SsmApiError("ThrottlingException", "Rate exceeded");
      }
      let input: unknown;
      try {
        input = body.trim() === "" ? {} : JSON.parse(body);
      } catch {
        throw new SsmApiError("SerializationException", "Request body is not valid JSON.");
      }
      if (typeof input !== "object" || input === null || Array.isArray(input)) {
        throw new SsmApiError("SerializationException", "Request body must be a JSON object.");
      }
      const output = await handler(input as Json);
      const text = JSON.stringify(output);
      res.writeHead(200, {
        "content-type": CONTENT_TYPE,
        "content-length": Buffer.byteLength(text),
        "x-amzn-requestid": randomUUID(),
      });
      res.end(text);
    } catch (error) {
      sendError(
        res,
        error instanceof SsmApiError
          ? error
          : new SsmApiError("InternalServerError", String(error), 500),
      );
    }
  }
}
