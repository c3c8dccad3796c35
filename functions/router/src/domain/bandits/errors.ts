import { UnprocessableError, ValidationError } from '#shared/errors.js';

/** A context the encoder cannot turn into features (a non-finite number, a declared numeric key holding text, …). */
export class InvalidContextError extends ValidationError {
  constructor(message: string, key: string) {
    super(message, [{ path: `context.${key}`, message }], 'invalid_context');
  }
}

/** A reward a strategy cannot learn from (not finite, or outside [0, 1] for a Bernoulli model). */
export class InvalidRewardError extends ValidationError {
  constructor(message: string) {
    super(message, [{ path: 'reward', message }], 'invalid_reward');
  }
}

/** A router configuration (strategy parameters, feature spec) that cannot work. */
export class InvalidRouterConfigError extends ValidationError {
  constructor(message: string, path: string) {
    super(message, [{ path, message }], 'invalid_router_config');
  }
}

/** Nothing left to route to. */
export class NoCandidatesError extends UnprocessableError {
  constructor(message = 'No candidate expert is left to route to.') {
    super(message, 'no_candidates');
  }
}

/**
 * A model state that does not fit the strategy or the features it is given (another model kind, or
 * a feature dimension that changed since the state was built). Not the caller's fault: the use case
 * resets the state when the tenant changes its feature spec, so this surfaces as a 500.
 */
export class IncompatibleModelStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IncompatibleModelStateError';
  }
}
