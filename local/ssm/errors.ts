/**
 * An error answered in the AWS JSON 1.1 shape (`{"__type": name, "message": ...}`),
 * which the SDK turns into the exception class of the same name.
 */
export class SsmApiError extends Error {
  override readonly name: string;
  readonly statusCode: number;

  constructor(name: string, message: string, statusCode = 400) {
    super(message);
    this.name = name;
    this.statusCode = statusCode;
  }
}

/** The service-side message for a field outside its modelled constraint. */
export function validationError(field: string, value: unknown, constraint: string): SsmApiError {
  return new SsmApiError(
    "ValidationException",
    `1 validation error detected: Value '${String(value)}' at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}
