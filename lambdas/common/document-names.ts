/**
 * Names of the hosts' SSM command documents: one set per deployed profile, the profile
 * fixed by the document (it ships that profile only and accepts only its name), so a
 * document carries one profile whatever the number deployed. The stack names them and
 * the functions derive the name they send from the same rule, with the profile of the
 * validated rollout (or snapshot).
 *
 * @module
 */
import { PROFILE_NAME_PATTERN } from "./patterns.js";

/** The on-host steps, each a command document per profile. */
export const HOST_DOCUMENT_STEPS = ["preflight", "stage", "switch", "rollback", "cleanup"] as const;

/** An on-host step. */
export type HostDocumentStep = (typeof HOST_DOCUMENT_STEPS)[number];

/**
 * Longest document name prefix: SSM names are at most 128 characters, and the prefix
 * is followed by `-<Step>-<profile>` (at most 10 + 33 characters).
 */
export const DOCUMENT_PREFIX_MAX_LENGTH = 80;

/** A document name prefix: what SSM allows in a name, 1 to {@link DOCUMENT_PREFIX_MAX_LENGTH} characters. */
export const DOCUMENT_PREFIX_PATTERN = new RegExp(
  `^[A-Za-z0-9_.-]{1,${DOCUMENT_PREFIX_MAX_LENGTH}}$`,
);

/**
 * `<prefix>-<Step>-<profile>`, e.g. `AgentRollout-Switch-demo`.
 *
 * @throws Error when `profile` is not a profile name (a document name is never made
 *   of anything else).
 */
export function hostDocumentName(prefix: string, step: HostDocumentStep, profile: string): string {
  if (!PROFILE_NAME_PATTERN.test(profile)) {
    throw new Error(
      `profile ${JSON.stringify(profile)} does not match ${PROFILE_NAME_PATTERN.source}`,
    );
  }
  return `${prefix}-${step.charAt(0).toUpperCase()}${step.slice(1)}-${profile}`;
}
