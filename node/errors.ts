// Errors a user can act on. The CLI prints `flnode: <message>` and exits with `exitCode`,
// never a stack trace. Anything else is a bug and is printed with its stack.
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}
