/** An error named like the EventBridge API error it stands for (`err.name === err.code`). */
export class EventBridgeError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = code;
    this.code = code;
  }
}
