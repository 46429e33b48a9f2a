// A mistake the user can fix (bad flag, bad file, unreachable host). The CLI prints
// its message as one line and exits with `exitCode`; any other error is a bug.
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "UserError";
  }
}
