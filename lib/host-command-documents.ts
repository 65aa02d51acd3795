import { Stack } from "aws-cdk-lib";
import { CfnDocument } from "aws-cdk-lib/aws-ssm";
import { Construct } from "constructs";
import {
  DOCUMENT_PREFIX_PATTERN,
  HOST_DOCUMENT_STEPS,
  type HostDocumentStep,
  hostDocumentName,
} from "../lambdas/common/document-names.js";
import {
  assembleProfileDocuments,
  deployedContent,
  type SsmDocumentContent,
} from "./host-documents/index.js";

/** The on-host steps, each an SSM command document per profile. */
export const DOCUMENT_STEPS = HOST_DOCUMENT_STEPS;

/** An on-host step. */
export type DocumentStep = HostDocumentStep;

/** Content of one assembled command document (what `CfnDocument.content` receives). */
export type HostDocumentContent = SsmDocumentContent;

/** Properties of {@link HostDocuments}. */
export interface HostDocumentsProps {
  /** Directory of the profiles, one set of documents each. @default `<project>/profiles` */
  readonly profilesDir?: string;
  /** Directory of the host scripts. @default `<project>/host/scripts` */
  readonly scriptsDir?: string;
  /** Directory of the document templates. @default `<project>/host/documents` */
  readonly documentsDir?: string;
  /** Directories on the hosts file:// artifacts may come from. @default [] (file:// refused) */
  readonly artifactDirs?: readonly string[];
  /** Prefix of the document names. @default the stack name */
  readonly namePrefix?: string;
}

/**
 * The SSM command documents the hosts run: for each deployed profile, the five steps
 * (preflight, stage, switch, rollback, cleanup), assembled at synth from the host
 * scripts, the templates and that profile. A document ships its own profile only and
 * accepts only its name, so its size does not depend on how many profiles are
 * deployed; the functions pick the document from the validated rollout's profile.
 *
 * Names are explicit (`<prefix>-<Step>-<profile>`, see `hostDocumentName`) so that the
 * functions, the operator and the IAM grants refer to one stable name;
 * `updateMethod: NewVersion` updates a document in place as a new default version
 * instead of replacing it, which an explicit name would not allow.
 */
export class HostDocuments extends Construct {
  /** Prefix of the document names. */
  public readonly prefix: string;
  /** The profiles, one set of documents each. */
  public readonly profiles: readonly string[];
  /** Document name per profile and step. */
  public readonly names: Readonly<Record<string, Readonly<Record<DocumentStep, string>>>>;
  /** Document resource per profile and step. */
  public readonly documents: Readonly<Record<string, Readonly<Record<DocumentStep, CfnDocument>>>>;
  /** Assembled content per profile and step (as deployed). */
  public readonly contents: Readonly<
    Record<string, Readonly<Record<DocumentStep, HostDocumentContent>>>
  >;

  constructor(scope: Construct, id: string, props: HostDocumentsProps = {}) {
    super(scope, id);
    const prefix = props.namePrefix ?? Stack.of(this).stackName;
    if (!DOCUMENT_PREFIX_PATTERN.test(prefix)) {
      throw new Error(
        `document name prefix "${prefix}" does not match ${DOCUMENT_PREFIX_PATTERN.source}`,
      );
    }
    this.prefix = prefix;
    this.contents = assembleProfileDocuments({
      profilesDir: props.profilesDir,
      scriptsDir: props.scriptsDir,
      documentsDir: props.documentsDir,
      artifactDirs: props.artifactDirs,
    });
    this.profiles = Object.keys(this.contents);
    const names: Record<string, Record<DocumentStep, string>> = {};
    const documents: Record<string, Record<DocumentStep, CfnDocument>> = {};
    for (const profile of this.profiles) {
      const scope = new Construct(this, `Profile-${profile}`);
      const contents = this.contents[profile] as Record<DocumentStep, HostDocumentContent>;
      names[profile] = {} as Record<DocumentStep, string>;
      documents[profile] = {} as Record<DocumentStep, CfnDocument>;
      for (const step of DOCUMENT_STEPS) {
        const name = hostDocumentName(prefix, step, profile);
        names[profile][step] = name;
        documents[profile][step] = new CfnDocument(scope, `${title(step)}Document`, {
          name,
          documentType: "Command",
          documentFormat: "JSON",
          content: deployedContent(contents[step]),
          updateMethod: "NewVersion",
        });
      }
    }
    this.names = names;
    this.documents = documents;
  }
}

function title(step: DocumentStep): string {
  return `${step.charAt(0).toUpperCase()}${step.slice(1)}`;
}
