/** Types of asl-validator 4 (the package ships none). */
declare module "asl-validator" {
  /** One problem found in a definition. */
  interface AslValidationError {
    "Error code": string;
    Message: string;
  }

  /** Result of a validation. */
  interface AslValidationResult {
    isValid: boolean;
    errors: AslValidationError[];
    errorsText(separator?: string): string;
  }

  /** Validates an Amazon States Language definition (JSON schema plus graph checks). */
  function aslValidator(
    definition: unknown,
    options?: { checkPaths?: boolean; checkArn?: boolean },
  ): AslValidationResult;

  export = aslValidator;
}
