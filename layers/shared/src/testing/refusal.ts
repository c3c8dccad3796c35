import { AppError } from '#shared/errors.js';

/** The AppError a call was refused with; fails the test when the call succeeds or throws anything else. */
export const refusal = async (promise: Promise<unknown>): Promise<AppError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the call to be refused');
};
