import { Stack } from "aws-cdk-lib";
import { CfnDocument } from "aws-cdk-lib/aws-ssm";
import { Construct } from "constructs";
import { assembleHostDocuments } from "./host-documents/index.js";

/** The on-host steps, each an SSM command document. */
export const DOCUMENT_STEPS = ["preflight", "stage", "switch", "rollback", "cleanup"] as const;

/** An on-host step. */
export type DocumentStep = (typeof DOCUMENT_STEPS)[number];

/** Content of one assembled command document (what `CfnDocument.content` receives). */
export type HostDocumentContent = ReturnType<typeof assembleHostDocuments>[DocumentStep];

/** Properties of {@link HostDocuments}. */
export interface HostDocumentsProps {
  /** Directory of the profiles the documents ship (and accept). @default `<project>/profiles` */
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
 * The five SSM command documents the hosts run (preflight, stage, switch, rollback,
 * cleanup), assembled at synth from the host scripts, the templates and the profiles.
 *
 * Names are explicit (`<stackName>-Preflight`, …) so that the functions, the operator
 * and the IAM grants refer to one stable name; `updateMethod: NewVersion` updates a
 * document in place as a new default version instead of replacing it, which an
 * explicit name would not allow.
 */
export class HostDocuments extends Construct {
  /** Document name per step. */
  public readonly names: Readonly<Record<DocumentStep, string>>;
  /** Document resource per step. */
  public readonly documents: Readonly<Record<DocumentStep, CfnDocument>>;
  /** Assembled content per step (as deployed). */
  public readonly contents: Readonly<Record<DocumentStep, HostDocumentContent>>;

  constructor(scope: Construct, id: string, props: HostDocumentsProps = {}) {
    super(scope, id);
    const prefix = props.namePrefix ?? Stack.of(this).stackName;
    this.contents = assembleHostDocuments({
      profilesDir: props.profilesDir,
      scriptsDir: props.scriptsDir,
      documentsDir: props.documentsDir,
      artifactDirs: props.artifactDirs,
    });
    const names = {} as Record<DocumentStep, string>;
    const documents = {} as Record<DocumentStep, CfnDocument>;
    for (const step of DOCUMENT_STEPS) {
      const title = `${step.charAt(0).toUpperCase()}${step.slice(1)}`;
      const name = `${prefix}-${title}`;
      names[step] = name;
      documents[step] = new CfnDocument(this, `${title}Document`, {
        name,
        documentType: "Command",
        documentFormat: "JSON",
        content: this.contents[step],
        updateMethod: "NewVersion",
      });
    }
    this.names = names;
    this.documents = documents;
  }

  /** ARN of the document of `step`. */
  public documentArn(step: DocumentStep): string {
    return Stack.of(this).formatArn({
      service: "ssm",
      resource: "document",
      resourceName: this.names[step],
    });
  }
}
