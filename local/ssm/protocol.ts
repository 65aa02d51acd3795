/**
 * Request-side helpers of the AWS JSON 1.1 protocol: field checks answered with the
 * service's ValidationException wording, and opaque NextToken pagination.
 */
import { SsmApiError, validationError } from "./errors.js";

/** A decoded request or response body. */
export type Json = Record<string, unknown>;

export function requireString(input: Json, field: string): string {
  const value = input[field];
  if (typeof value !== "string" || value === "") {
    throw validationError(field, value, "Member must not be null");
  }
  return value;
}

export function optionalString(input: Json, field: string, maxLength: number): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw validationError(field, value, "Member must be a string");
  if (value.length > maxLength) {
    throw validationError(
      field,
      value,
      `Member must have length less than or equal to ${maxLength}`,
    );
  }
  return value;
}

export function maxResults(input: Json, min: number, max: number, fallback: number): number {
  const value = input.MaxResults;
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw validationError("maxResults", value, `Member must have value between ${min} and ${max}`);
  }
  return value;
}

/** Opaque NextToken bound to the request that produced it, so a token cannot be replayed on another query. */
export function paginate<T>(
  items: readonly T[],
  input: Json,
  limit: number,
  scope: string,
): { page: T[]; next?: string } {
  let offset = 0;
  if (input.NextToken !== undefined && input.NextToken !== null) {
    let decoded: { s?: unknown; o?: unknown } | undefined;
    try {
      decoded = JSON.parse(Buffer.from(String(input.NextToken), "base64url").toString("utf8"));
    } catch {
      decoded = undefined;
    }
    if (
      decoded?.s !== scope ||
      typeof decoded.o !== "number" ||
      !Number.isInteger(decoded.o) ||
      decoded.o < 0
    ) {
      throw new SsmApiError("InvalidNextToken", "The specified token isn't valid.");
    }
    offset = decoded.o;
  }
  const page = items.slice(offset, offset + limit);
  const end = offset + page.length;
  if (end >= items.length) return { page };
  return { page, next: Buffer.from(JSON.stringify({ s: scope, o: end })).toString("base64url") };
}
