/**
 * The managed nodes the endpoint knows: one record per simulated host, its
 * reachability, and how DescribeInstanceInformation filters match it.
 */
import { PLATFORM_TYPE } from "./documents.js";
import type { LocalHost, LocalHostState } from "./types.js";

/** Agent version reported; ENV_VAR interpolation needs 3.3.2746.0 or later. */
export const AGENT_VERSION = "3.3.2746.0";

/** A simulated managed node as the endpoint tracks it. */
export interface HostRecord {
  readonly instanceId: string;
  readonly hostRoot: string;
  readonly computerName: string;
  readonly tags: Readonly<Record<string, string>>;
  state: LocalHostState;
  /** When the agent was last heard from: now while online, the moment it left otherwise. */
  lastPingAt: number;
  readonly registeredAt: number;
}

/** DescribeInstanceInformation filter keys other than `tag:<key>`. */
export const INSTANCE_FILTER_KEYS = [
  "InstanceIds",
  "PingStatus",
  "PlatformTypes",
  "ResourceType",
  "AgentVersion",
  "tag-key",
] as const;

/** One validated DescribeInstanceInformation filter (from either filter list). */
export interface InstanceFilter {
  readonly key: (typeof INSTANCE_FILTER_KEYS)[number] | `tag:${string}`;
  readonly values: ReadonlySet<string>;
}

export function pingStatus(host: HostRecord): string {
  return host.state === "online" ? "Online" : "ConnectionLost";
}

export function resourceType(host: HostRecord): string {
  return host.instanceId.startsWith("mi-") ? "ManagedInstance" : "EC2Instance";
}

/** Whether a host passes one filter (DescribeInstanceInformation ANDs them). */
export function hostMatches(host: HostRecord, filter: InstanceFilter): boolean {
  const { key, values } = filter;
  if (key.startsWith("tag:")) {
    const tag = key.slice(4);
    return Object.hasOwn(host.tags, tag) && values.has(host.tags[tag] as string);
  }
  switch (key) {
    case "InstanceIds":
      return values.has(host.instanceId);
    case "PingStatus":
      return values.has(pingStatus(host));
    case "PlatformTypes":
      return values.has(PLATFORM_TYPE);
    case "ResourceType":
      return values.has(resourceType(host));
    case "AgentVersion":
      return values.has(AGENT_VERSION);
    case "tag-key":
      return [...values].some((k) => Object.hasOwn(host.tags, k));
    default:
      return false;
  }
}

/** The simulated hosts, in the order they were given. */
export class InstanceRegistry {
  private readonly hosts = new Map<string, HostRecord>();

  constructor(hosts: readonly LocalHost[]) {
    const now = Date.now();
    for (const host of hosts) {
      this.hosts.set(host.instanceId, {
        instanceId: host.instanceId,
        hostRoot: host.hostRoot,
        computerName: host.computerName ?? host.instanceId,
        tags: { ...(host.tags ?? {}) },
        state: host.state ?? "online",
        lastPingAt: now,
        registeredAt: now,
      });
    }
  }

  has(instanceId: string): boolean {
    return this.hosts.has(instanceId);
  }

  /** @throws Error when the instance is unknown. */
  get(instanceId: string): HostRecord {
    const host = this.hosts.get(instanceId);
    if (!host) throw new Error(`unknown instance ${instanceId}`);
    return host;
  }

  /** The hosts that pass every filter. */
  matching(filters: readonly InstanceFilter[]): HostRecord[] {
    return [...this.hosts.values()].filter((h) => filters.every((f) => hostMatches(h, f)));
  }

  /**
   * Changes a host's reachability.
   * @returns whether the state changed.
   * @throws Error when the instance is unknown.
   */
  setState(instanceId: string, state: LocalHostState): boolean {
    const host = this.get(instanceId);
    if (host.state === state) return false;
    host.lastPingAt = Date.now();
    host.state = state;
    return true;
  }
}
