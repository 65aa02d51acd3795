/**
 * Host resolution for PlanRollout: which managed instances a rollout targets, in
 * rollout order, checked against the target tag with DescribeInstanceInformation.
 *
 * @module
 */
import {
  type DescribeInstanceInformationCommandInput,
  paginateDescribeInstanceInformation,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { InvalidInputError, NoHostsError } from "../common/errors.js";
import type { HostSelection } from "../common/schemas.js";

/** The tag every targetable instance carries (the stack's `TARGET_TAG_KEY`/`TARGET_TAG_VALUE`). */
export interface TargetTag {
  readonly targetTagKey: string;
  readonly targetTagValue: string;
}

/** Instance ids checked per DescribeInstanceInformation call (the `InstanceIds` filter limit). */
export const DESCRIBE_BATCH = 50;
/** Most hosts one rollout may target. */
export const MAX_HOSTS = 10_000;

/**
 * Instance ids to upgrade, in rollout order: the explicit list as given (each one
 * checked to be a managed instance carrying the target tag), or the instances
 * matching the tags, sorted by id.
 *
 * @throws InvalidInputError, NoHostsError
 */
export async function resolveHosts(
  ssm: SSMClient,
  config: TargetTag,
  selection: HostSelection,
): Promise<string[]> {
  const targetFilter = { Key: `tag:${config.targetTagKey}`, Values: [config.targetTagValue] };
  if (selection.instanceIds !== undefined) {
    const ids = selection.instanceIds;
    const found = new Set<string>();
    for (let start = 0; start < ids.length; start += DESCRIBE_BATCH) {
      const batch = ids.slice(start, start + DESCRIBE_BATCH);
      for (const id of await describe(ssm, {
        Filters: [{ Key: "InstanceIds", Values: batch }, targetFilter],
      })) {
        found.add(id);
      }
    }
    const missing = ids.flatMap((id, index) => (found.has(id) ? [] : [{ id, index }]));
    if (missing.length > 0) {
      const tag = `${config.targetTagKey}=${config.targetTagValue}`;
      const shown = missing
        .slice(0, 10)
        .map(
          ({ id, index }) =>
            `hosts.instanceIds[${index}]: ${id} is not a managed instance carrying tag ${tag}`,
        );
      if (missing.length > shown.length) shown.push(`(${missing.length - shown.length} more)`);
      throw new InvalidInputError(shown.join("; "));
    }
    return [...ids];
  }

  const tags = selection.tags ?? {};
  const wanted = tags[config.targetTagKey];
  if (wanted !== undefined && wanted !== config.targetTagValue) {
    throw new NoHostsError(
      `hosts.tags: ${config.targetTagKey}=${wanted} excludes every targetable instance (${config.targetTagKey}=${config.targetTagValue})`,
    );
  }
  const filters = Object.entries(tags)
    .filter(([key]) => key !== config.targetTagKey)
    .map(([key, value]) => ({ Key: `tag:${key}`, Values: [value] }));
  const ids = [...new Set(await describe(ssm, { Filters: [...filters, targetFilter] }))].sort();
  if (ids.length === 0) {
    throw new NoHostsError(
      `hosts.tags: no managed instance matches ${Object.entries(tags)
        .map(([key, value]) => `${key}=${value}`)
        .join(", ")} with tag ${config.targetTagKey}=${config.targetTagValue}`,
    );
  }
  if (ids.length > MAX_HOSTS) {
    throw new InvalidInputError(
      `hosts.tags: selects ${ids.length} instances, more than ${MAX_HOSTS}; narrow the tags`,
    );
  }
  return ids;
}

async function describe(
  ssm: SSMClient,
  input: DescribeInstanceInformationCommandInput,
): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of paginateDescribeInstanceInformation(
    { client: ssm, pageSize: DESCRIBE_BATCH },
    input,
  )) {
    for (const info of page.InstanceInformationList ?? []) {
      if (info.InstanceId !== undefined) ids.push(info.InstanceId);
    }
  }
  return ids;
}
