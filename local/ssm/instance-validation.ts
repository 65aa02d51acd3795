/**
 * What the endpoint refuses in DescribeInstanceInformation, in the order SSM checks
 * it (see validation.ts for the other operations).
 */
import { SsmApiError, validationError } from "./errors.js";
import { INSTANCE_FILTER_KEYS, type InstanceFilter } from "./instances.js";
import { type Json, maxResults } from "./protocol.js";
import { INSTANCE_ID } from "./validation.js";

/** Values of one DescribeInstanceInformation filter (API_InstanceInformationStringFilter, API_InstanceInformationFilter). */
const MAX_FILTER_VALUES = 100;

/** Whether a DescribeInstanceInformation filter key selects by tag (`tag:<key>` or `tag-key`). */
function isTagKey(key: string): boolean {
  return key.startsWith("tag:") || key === "tag-key";
}

/**
 * One DescribeInstanceInformation filter, at `field` (e.g. `filters.1.member`): a
 * string key (InvalidFilterKey); 1 to 100 values (ValidationException), all strings
 * (InvalidInstanceInformationFilterValue); a key among {@link INSTANCE_FILTER_KEYS}
 * or `tag:<key>` (InvalidFilterKey); for `InstanceIds`, each value a managed node
 * (InvalidInstanceId: SSM answers an id that is not valid or not the account's with
 * an error instead of leaving it out).
 */
function instanceFilter(
  field: string,
  key: unknown,
  values: unknown,
  isManagedNode: (id: string) => boolean,
): InstanceFilter {
  if (typeof key !== "string") {
    throw new SsmApiError("InvalidFilterKey", "A filter key is required.");
  }
  if (!Array.isArray(values) || values.length === 0) {
    throw validationError(field, "[]", "Member must have length greater than or equal to 1");
  }
  if (values.length > MAX_FILTER_VALUES) {
    throw validationError(
      field,
      `[${values.length} values]`,
      `Member must have length less than or equal to ${MAX_FILTER_VALUES}`,
    );
  }
  if (!values.every((v) => typeof v === "string")) {
    throw new SsmApiError(
      "InvalidInstanceInformationFilterValue",
      `Filter ${key} takes string values.`,
    );
  }
  const set = new Set(values as string[]);
  if (key.startsWith("tag:")) return { key: key as `tag:${string}`, values: set };
  const known = INSTANCE_FILTER_KEYS.find((k) => k === key);
  if (known === undefined) {
    throw new SsmApiError("InvalidFilterKey", `Filter key ${key} is not supported.`);
  }
  if (known === "InstanceIds") {
    const invalid = [...set].find((id) => !INSTANCE_ID.test(id) || !isManagedNode(id));
    if (invalid !== undefined) {
      throw new SsmApiError(
        "InvalidInstanceId",
        `Instance ${invalid} is not valid or is not a managed node of this account.`,
      );
    }
  }
  return { key: known, values: set };
}

/**
 * DescribeInstanceInformation rules, in order:
 * - MaxResults: optional, 5 to 50 (default 10);
 * - InstanceInformationFilterList and Filters: not both (ValidationException);
 * - InstanceInformationFilterList: optional, a list (InvalidFilter) of `{key, valueSet}`,
 *   never a tag key (InvalidFilterKey: tags only work through Filters), each as in
 *   {@link instanceFilter};
 * - Filters: optional, a list (InvalidFilter) of `{Key, Values}`, each as in
 *   {@link instanceFilter}; tag filters only with tag filters (ValidationException).
 */
export function validateDescribeInstanceInformation(
  input: Json,
  isManagedNode: (id: string) => boolean,
): {
  readonly limit: number;
  readonly filters: readonly InstanceFilter[];
} {
  const limit = maxResults(input, 5, 50, 10);
  const given = (list: "InstanceInformationFilterList" | "Filters") =>
    Array.isArray(input[list]) && (input[list] as unknown[]).length > 0;
  if (given("InstanceInformationFilterList") && given("Filters")) {
    throw new SsmApiError(
      "ValidationException",
      "InstanceInformationFilterList and Filters cannot be used together; use Filters.",
    );
  }
  const parsed: InstanceFilter[] = [];
  for (const list of ["InstanceInformationFilterList", "Filters"] as const) {
    const filters = input[list];
    if (filters === undefined || filters === null) continue;
    if (!Array.isArray(filters)) {
      throw new SsmApiError("InvalidFilter", `${list} must be a list.`);
    }
    (filters as Array<Record<string, unknown>>).forEach((f, index) => {
      if (list === "Filters") {
        const field = `filters.${index + 1}.member.values`;
        parsed.push(instanceFilter(field, f?.Key, f?.Values, isManagedNode));
      } else if (typeof f?.key === "string" && f.key.startsWith("tag")) {
        // The old-style list has a closed set of keys; tags only work through Filters.
        throw new SsmApiError(
          "InvalidFilterKey",
          `Filter key ${f.key} is not supported in ${list}.`,
        );
      } else {
        const field = `instanceInformationFilterList.${index + 1}.member.valueSet`;
        parsed.push(instanceFilter(field, f?.key, f?.valueSet, isManagedNode));
      }
    });
  }
  const tags = parsed.filter((f) => isTagKey(f.key));
  if (tags.length > 0 && tags.length < parsed.length) {
    throw new SsmApiError(
      "ValidationException",
      "Cannot mix tag or inventory filter with any other filter.",
    );
  }
  return { limit, filters: parsed };
}
