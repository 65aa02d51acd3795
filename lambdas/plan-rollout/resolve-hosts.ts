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

/** DescribeInstanceInformation page size: the largest `MaxResults` SSM accepts (5 to 50). */
export const DESCRIBE_PAGE_SIZE = 50;
/** Most hosts one rollout may target. */
export const MAX_HOSTS = 10_000;

/**
 * Instance ids to upgrade, in rollout order: the explicit list as given (each one
 * checked to be a managed instance carrying the target tag), or the instances
 * matching the tags, sorted by id. Every query carries tag filters only, as
 * DescribeInstanceInformation does not combine them with other filter types.
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
    // SSM refuses an InstanceIds filter next to a tag filter, and answers an id it does
    // not manage with InvalidInstanceId: list the tagged instances, then intersect.
    const ids = selection.instanceIds;
    const tagged = new Set(await describe(ssm, { Filters: [targetFilter] }));
    const missing = ids.flatMap((id, index) => (tagged.has(id) ? [] : [{ id, index }]));
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
    { client: ssm, pageSize: DESCRIBE_PAGE_SIZE },
    input,
  )) {
    for (const info of page.InstanceInformationList ?? []) {
      if (info.InstanceId !== undefined) ids.push(info.InstanceId);
    }
  }
  return ids;
}
