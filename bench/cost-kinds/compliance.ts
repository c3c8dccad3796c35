/**
 * The compliance pillar's (M7) priced requests: `POST /compliance/assessments {framework, scope: 'all'}`
 * by an org-admin with MFA, once for SOC2 and once for GDPR (compliance is the platform's: the
 * tenant only names where the org-admin acts). One request runs every test of every control of the
 * framework, one after the other, in the request: each result is written to the WORM store (S3
 * Object Lock's stand-in) as two objects, the artifact then the record naming its SHA-256;
 * `platform.evidence-store-worm` writes one probe object more (and tries an overwrite and a delete);
 * each control's state is read and written, a failing control's finding counted and
 * `control_failed` published (none fails on this runtime), and the assessment record written.
 * Nothing is left to a queue: the answer (201) comes when all of it is done. The check reads every
 * result's evidence record and its artifact back from the store's folder (plain file reads, not
 * metered).
 *
 * Not priced here: the hourly sweep (`conductor-compliance-sweep`, a scheduled rule, not a request);
 * the `aws.*` tests' calls (read-only S3 bucket, KMS, DynamoDB, API Gateway, SQS, Logs and
 * CloudWatch look-ups: `not_applicable` at once on this runtime); and the decision and activity
 * checks' real reading: they compare the 24 h ending 20 min ago (ARCHIVE_LAG_MINUTES), which no
 * decision of this process reaches, so they list an empty archive.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kind, PillarKinds } from './kind.js';

const FRAMEWORKS = ['SOC2', 'GDPR'] as const;
const WORM_PROBE_TEST = 'platform.evidence-store-worm';

interface Catalog {
  readonly items: readonly { id: string; criteria: readonly { controls: readonly string[] }[] }[];
  readonly controls: readonly { id: string; tests: readonly string[] }[];
}
interface Assessment {
  readonly framework: string;
  readonly status: string;
  readonly requestedBy: string;
  readonly results: readonly { testId: string; result: string; evidenceKey: string }[];
}

export const complianceCostKinds: PillarKinds = async ({ conductor, token, call }) => {
  const kinds: Kind[] = [];
  for (const framework of FRAMEWORKS) {
    const subject = `bench-compliance-grc-${framework.toLowerCase()}`;
    const admin = await token(`bench-compliance-${framework.toLowerCase()}`, subject, ['org-admin'], true);
    const catalog = (await call(
      'GET',
      '/compliance/frameworks',
      admin,
      undefined,
      200,
    )) as unknown as Catalog;
    const mapped = new Set(
      catalog.items.find((f) => f.id === framework)?.criteria.flatMap((c) => c.controls),
    );
    const tests = catalog.controls
      .filter((control) => mapped.has(control.id))
      .flatMap((control) => control.tests)
      .sort();
    const probe = tests.includes(WORM_PROBE_TEST) ? 1 : 0;
    /** An object of the WORM store, read from its folder (FileWormStore: `<root>/<key>`). */
    const stored = (key: string) => readFileSync(join(conductor.worm.root, ...key.split('/')), 'utf8');
    kinds.push({
      name: `compliance assessment, ${framework}`,
      method: 'POST',
      path: '/compliance/assessments',
      token: admin,
      status: 201,
      body: () => ({ framework, scope: 'all' }),
      check: (reply) => {
        const assessment = reply as Assessment;
        const seen = assessment.results.map((r) => r.testId).sort();
        if (
          assessment.framework !== framework ||
          assessment.status !== 'completed' ||
          assessment.requestedBy !== subject ||
          seen.join(',') !== tests.join(',')
        )
          throw new Error(`expected a completed ${framework} assessment with a result of each of its tests`);
        for (const { evidenceKey } of assessment.results) {
          const record = JSON.parse(stored(evidenceKey)) as { artifact: { key: string } };
          stored(record.artifact.key);
        }
      },
      note:
        `One assessment of all ${mapped.size} controls of ${framework}: ${tests.length} results, ` +
        `${2 * tests.length} evidence objects (artifact + record per result)` +
        (probe ? ` + 1 WORM probe object` : '') +
        ', written in the request. Not priced: the aws.* tests (not_applicable here) and a real ' +
        'day of decisions (the decision and activity checks see an empty archive window here).',
    });
  }
  return kinds;
};
