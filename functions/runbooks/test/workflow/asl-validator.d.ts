declare module 'asl-validator' {
  interface ValidationResult {
    isValid: boolean;
    errors: { message?: string }[];
    errorsText(separator?: string): string;
  }
  interface ValidationOptions {
    checkPaths?: boolean;
    checkArn?: boolean;
  }
  /** Checks a definition against the ASL JSON schemas, transitions, terminal states and paths. */
  export default function aslValidator(definition: unknown, options?: ValidationOptions): ValidationResult;
}
