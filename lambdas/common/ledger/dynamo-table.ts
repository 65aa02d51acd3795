/**
 * Item access on one DynamoDB table: the one get-and-parse path, conditional writes,
 * paginated queries and batch writes with retries. {@link DynamoLedgerStore} builds
 * the ledger's operations on it.
 *
 * @module
 */
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  type GetCommandInput,
  type PutCommand,
  paginateQuery,
  type QueryCommandInput,
  type UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { z } from "zod";
import {
  InvalidLedgerItemError,
  isConditionalCheckFailed,
  LedgerWriteIncompleteError,
} from "../errors.js";
import { parseItem } from "./items.js";
import type { ItemKey } from "./keys.js";
import type { Listing } from "./store.js";

/** Options of {@link DynamoTable}. */
export interface DynamoTableOptions {
  /** Document client (created with `removeUndefinedValues`). */
  readonly client: DynamoDBDocumentClient;
  /** Table name. */
  readonly tableName: string;
  /** Waits between BatchWriteItem retries of unprocessed items. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** BatchWriteItem attempts before giving up on unprocessed items. @default 8 */
  readonly batchAttempts?: number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Reads and writes items of one table. */
export class DynamoTable {
  /** The document client. */
  readonly client: DynamoDBDocumentClient;
  /** The table name. */
  readonly name: string;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly batchAttempts: number;

  constructor(options: DynamoTableOptions) {
    this.client = options.client;
    this.name = options.tableName;
    this.sleep = options.sleep ?? defaultSleep;
    this.batchAttempts = options.batchAttempts ?? 8;
  }

  /**
   * The one read of a single item: a strongly consistent GetItem, parsed with
   * `schema`; undefined when absent, `InvalidLedgerItemError` when it does not match.
   */
  async getItem<S extends z.ZodType>(
    key: ItemKey,
    schema: S,
    projection: Pick<GetCommandInput, "ProjectionExpression" | "ExpressionAttributeNames"> = {},
  ): Promise<z.output<S> | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.name, Key: key, ...projection, ConsistentRead: true }),
    );
    // A projection leaves the key out of the item: put it back for the error message.
    return out.Item === undefined ? undefined : parseItem(schema, { ...key, ...out.Item });
  }

  /** An item as stored, unparsed (strongly consistent); undefined when absent. */
  async getRawItem(key: ItemKey): Promise<Record<string, unknown> | undefined> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.name, Key: key, ConsistentRead: true }),
    );
    return out.Item;
  }

  /** Sends a conditional write; false when its condition did not hold. */
  async conditional(command: PutCommand | UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      // The union defeats the client's overloads; each member is a valid command.
      await this.client.send(command as UpdateCommand);
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** Every page of a query, each item parsed with `schema`. */
  async queryAll<S extends z.ZodType>(input: QueryCommandInput, schema: S): Promise<z.output<S>[]> {
    const items: z.output<S>[] = [];
    for await (const page of paginateQuery({ client: this.client }, input)) {
      for (const item of page.Items ?? []) items.push(parseItem(schema, item));
    }
    return items;
  }

  /**
   * Every page of a query, each item parsed with `schema`; an item that does not match
   * is skipped and its key listed instead of failing the whole listing.
   */
  async queryAllSkippingCorrupt<S extends z.ZodType>(
    input: QueryCommandInput,
    schema: S,
  ): Promise<Listing<z.output<S>>> {
    const listing: Listing<z.output<S>> = { items: [], corrupt: [] };
    for await (const page of paginateQuery({ client: this.client }, input)) {
      for (const item of page.Items ?? []) {
        try {
          listing.items.push(parseItem(schema, item));
        } catch (error) {
          if (!(error instanceof InvalidLedgerItemError)) throw error;
          listing.corrupt.push(error.key);
        }
      }
    }
    return listing;
  }

  /**
   * BatchWriteItem in requests of 25, re-sending unprocessed items with exponential
   * backoff (DynamoDB returns them under throttling instead of failing the call).
   */
  async batchPut(items: readonly Record<string, unknown>[]): Promise<void> {
    for (let start = 0; start < items.length; start += 25) {
      let requests: NonNullable<BatchWriteCommandInput["RequestItems"]>[string] = items
        .slice(start, start + 25)
        .map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 1; ; attempt++) {
        const out = await this.client.send(
          new BatchWriteCommand({ RequestItems: { [this.name]: requests } }),
        );
        const unprocessed = out.UnprocessedItems?.[this.name] ?? [];
        if (unprocessed.length === 0) break;
        if (attempt >= this.batchAttempts) {
          throw new LedgerWriteIncompleteError(
            `BatchWriteItem left ${unprocessed.length} items unprocessed after ${attempt} attempts`,
          );
        }
        requests = unprocessed;
        await this.sleep(Math.min(50 * 2 ** attempt, 2000));
      }
    }
  }
}
