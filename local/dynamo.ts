import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import dynalite from "dynalite";

/** A DynamoDB stand-in on 127.0.0.1, reached through the real AWS SDK. */
export interface LocalDynamo {
  readonly endpoint: string;
  /** Request and capacity counters; present only when started with `meter`. */
  readonly meter?: DynamoMeter;
  close(): Promise<void>;
}

/** Options of {@link startLocalDynamo}. */
export interface LocalDynamoOptions {
  /**
   * Count requests and the capacity units DynamoDB would bill for them (benchmarks).
   * Off by default: metering parses every request and response.
   */
  readonly meter?: boolean;
  /**
   * Attributes that are a secondary index's partition key: a put of an item carrying
   * one also writes that index, which on-demand DynamoDB bills as well.
   */
  readonly indexKeyAttributes?: readonly string[];
}

/** What the metered endpoint served, per operation (`GetItem`, `UpdateItem`, ...). */
export interface DynamoUsage {
  /** Requests received, failed ones included. */
  readonly requests: Record<string, number>;
  /** Read capacity units, as DynamoDB sizes them (4 KB steps, half for eventually consistent reads). */
  readonly readUnits: number;
  /** Write capacity units of the table (1 KB steps, the larger of the old and new item). */
  readonly writeUnits: number;
  /** Write units of secondary indexes (items carrying an index key, 1 KB steps). */
  readonly indexWriteUnits: number;
  /** Writes refused by their condition: DynamoDB still bills them (1 unit counted each). */
  readonly failedConditionalWrites: number;
}

/** Counters of a metered local DynamoDB. */
export interface DynamoMeter {
  /** A copy of the counters so far. */
  usage(): DynamoUsage;
}

const READ_OPERATIONS = new Set(["GetItem", "BatchGetItem", "Query", "Scan"]);
const WRITE_OPERATIONS = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]);

/**
 * Counts requests at the HTTP level and asks dynalite to compute what each one
 * consumes (`ReturnConsumedCapacity: TOTAL` is added to the request; the SDK ignores
 * the extra `ConsumedCapacity` in responses), so the figures come from dynalite's
 * implementation of DynamoDB's item-size rules rather than from a per-request guess.
 */
class Meter implements DynamoMeter {
  private readonly requests: Record<string, number> = {};
  private readUnits = 0;
  private writeUnits = 0;
  private indexWriteUnits = 0;
  private failedConditionalWrites = 0;

  constructor(private readonly indexKeys: readonly string[]) {}

  usage(): DynamoUsage {
    return {
      requests: { ...this.requests },
      readUnits: this.readUnits,
      writeUnits: this.writeUnits,
      indexWriteUnits: this.indexWriteUnits,
      failedConditionalWrites: this.failedConditionalWrites,
    };
  }

  /** Wraps dynalite's request listener. */
  wrap(
    inner: (req: IncomingMessage, res: ServerResponse) => void,
  ): (req: IncomingMessage, res: ServerResponse) => void {
    return (req, res) => {
      const operation = String(req.headers["x-amz-target"] ?? "").split(".")[1] ?? "";
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        let body = Buffer.concat(chunks).toString("utf8");
        let request: Record<string, unknown> | undefined;
        if (READ_OPERATIONS.has(operation) || WRITE_OPERATIONS.has(operation)) {
          try {
            request = JSON.parse(body) as Record<string, unknown>;
            request.ReturnConsumedCapacity ??= "TOTAL";
            body = JSON.stringify(request);
          } catch {
            request = undefined; // dynalite answers the malformed body itself
          }
        }
        this.requests[operation] = (this.requests[operation] ?? 0) + 1;
        const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
        res.end = ((...args: unknown[]) => {
          if (request !== undefined) this.account(operation, request, args[0]);
          return end(...args);
        }) as ServerResponse["end"];
        // dynalite reads only the stream, method, url and headers of the request.
        const replay = Object.assign(Readable.from([Buffer.from(body)]), {
          headers: req.headers,
          method: req.method,
          url: req.url,
        });
        inner(replay as unknown as IncomingMessage, res);
      });
    };
  }

  private account(operation: string, request: Record<string, unknown>, chunk: unknown): void {
    let response: Record<string, unknown>;
    try {
      response = JSON.parse(String(chunk ?? "")) as Record<string, unknown>;
    } catch {
      return;
    }
    if (String(response.__type ?? "").endsWith("ConditionalCheckFailedException")) {
      this.failedConditionalWrites++;
      return;
    }
    const consumed = ([] as unknown[]).concat(response.ConsumedCapacity ?? []) as Array<{
      CapacityUnits?: number;
    }>;
    const units = consumed.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
    if (READ_OPERATIONS.has(operation)) {
      this.readUnits += units;
      return;
    }
    this.writeUnits += units;
    if (operation === "PutItem" && this.indexed(request.Item)) this.indexWriteUnits += units;
    if (operation === "BatchWriteItem") {
      // Per-item sizes are not reported for a batch: an indexed item counts 1 unit.
      for (const writes of Object.values((request.RequestItems ?? {}) as Record<string, unknown>)) {
        for (const write of writes as Array<{ PutRequest?: { Item?: unknown } }>) {
          if (this.indexed(write.PutRequest?.Item)) this.indexWriteUnits += 1;
        }
      }
    }
  }

  private indexed(item: unknown): boolean {
    return (
      typeof item === "object" &&
      item !== null &&
      this.indexKeys.some((key) => key in (item as Record<string, unknown>))
    );
  }
}

/**
 * Starts dynalite on a free loopback port. With `path`, the data lives in that
 * directory (LevelDB) and survives the process, so `cleanup` can run later against
 * the ledger a rollout left behind; without it, the data is in memory. With
 * `options.meter`, requests and capacity units are counted (see {@link DynamoMeter}).
 */
export async function startLocalDynamo(
  path?: string,
  options: LocalDynamoOptions = {},
): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path });
  let meter: Meter | undefined;
  if (options.meter) {
    meter = new Meter(options.indexKeyAttributes ?? []);
    const [inner] = server.listeners("request") as Array<
      (req: IncomingMessage, res: ServerResponse) => void
    >;
    if (inner === undefined) throw new Error("dynalite has no request listener to meter");
    server.removeAllListeners("request");
    server.on("request", meter.wrap(inner));
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    ...(meter === undefined ? {} : { meter }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

/**
 * Creates the ledger table from the key schema, attributes and indexes of the
 * synthesized `AWS::DynamoDB::Table`, so local mode uses the table CDK deploys.
 * An existing table (a kept work directory) is left as it is.
 */
export async function createTableFromTemplate(
  endpoint: string,
  tableName: string,
  properties: Record<string, unknown>,
): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const input: CreateTableCommandInput = {
    TableName: tableName,
    KeySchema: properties.KeySchema as CreateTableCommandInput["KeySchema"],
    AttributeDefinitions:
      properties.AttributeDefinitions as CreateTableCommandInput["AttributeDefinitions"],
    GlobalSecondaryIndexes:
      properties.GlobalSecondaryIndexes as CreateTableCommandInput["GlobalSecondaryIndexes"],
    BillingMode: "PAY_PER_REQUEST",
  };
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    if ((error as Error).name !== "ResourceInUseException") throw error;
  } finally {
    client.destroy();
  }
}
