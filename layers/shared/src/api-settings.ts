/** API-wide settings shared by the CDK stage and the embedded gateway. */
export const API_SETTINGS = {
  /** Stage throttling (API Gateway default-route throttle): steady requests per second and burst. */
  stageThrottle: { rateLimit: 500, burstLimit: 1000 },
  /** JWT audience the authorizer accepts (the Cognito app client id on AWS). */
  localAudience: 'conductor',
} as const;
