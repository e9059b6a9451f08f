/**
 * Every error mailtokend raises on purpose carries a stable `code` that a user
 * can look up in doc/errors.md. Messages never contain tokens or secrets.
 */
export class MailtokendError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}
