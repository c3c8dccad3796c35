import { parseRunbookValue, type Runbook } from '../../functions/runbooks/src/domain/runbook.js';

/**
 * The benchmarks' runbook: one approval stage (`on-call`, one approver of `roles`), then one
 * privileged http step (`restart`) POSTing `body` to `url` (which may hold `${params.…}`
 * placeholders), with the JSON Schema `parameters`. bench:runbooks and bench:cost publish it.
 */
export const oneApprovalRunbook = (options: {
  readonly id: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly roles: readonly string[];
  readonly url: string;
  readonly body: Readonly<Record<string, unknown>>;
}): Runbook =>
  parseRunbookValue(
    {
      apiVersion: 'conductor.runbook/v1',
      id: options.id,
      version: 1,
      description: options.description,
      parameters: options.parameters,
      approvals: [{ name: 'on-call', roles: options.roles, minApprovers: 1, timeoutSeconds: 3600 }],
      steps: [
        {
          id: 'restart',
          name: 'Restart',
          type: 'http',
          privileged: true,
          method: 'POST',
          url: options.url,
          body: options.body,
        },
      ],
    },
    options.id,
  );
