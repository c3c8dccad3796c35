/** The account and region every local stand-in reports in its ARNs and URLs (as LocalStack does). */
export const LOCAL_ACCOUNT_ID = '000000000000';
export const LOCAL_REGION = 'us-east-1';
