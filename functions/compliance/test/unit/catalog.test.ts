import { describe, expect, it } from 'vitest';
import { CatalogError, controlsOf, criteriaOf, parseCatalog } from '../../src/domain/catalog.js';
import { CATALOG_FILES, CATALOG_TEST_IDS } from '../support/catalog-files.js';

const BUILT_IN = CATALOG_FILES;
const TESTS = new Set(CATALOG_TEST_IDS);

const errorOf = (run: () => unknown): CatalogError => {
  try {
    run();
  } catch (error) {
    if (error instanceof CatalogError) return error;
    throw error;
  }
  throw new Error('no CatalogError');
};

describe('the control catalog', () => {
  it('maps the SOC2 and GDPR criteria the product names to controls with tests, owners and scores', () => {
    const catalog = parseCatalog(BUILT_IN, TESTS);
    const soc2 = catalog.frameworks.get('SOC2')?.criteria.map((c) => c.id);
    const gdpr = catalog.frameworks.get('GDPR')?.criteria.map((c) => c.id);
    expect(soc2).toEqual(expect.arrayContaining(['CC1.3', 'CC6.1', 'CC6.6', 'CC6.7', 'CC7.2', 'CC8.1']));
    expect(gdpr).toEqual(expect.arrayContaining(['Art.5', 'Art.15-20', 'Art.30', 'Art.32']));
    // The acceptance scenario: CC6.1 requires log-retention evidence.
    expect(criteriaOf(catalog, 'log-retention')).toContain('SOC2 CC6.1');
    for (const control of controlsOf(catalog, 'SOC2')) {
      expect(control.owner.length).toBeGreaterThan(0);
      expect(control.likelihood * control.impact).toBeGreaterThan(0);
    }
  });

  it('takes a custom framework as one more file, mapping to the built-in controls', () => {
    const custom = {
      source: 'iso27001.json',
      text: JSON.stringify({
        apiVersion: 'conductor.framework/v1',
        id: 'ISO27001',
        name: 'ISO/IEC 27001:2022 Annex A (excerpt)',
        criteria: [{ id: 'A.8.15', title: 'Logging', controls: ['log-retention', 'monitoring'] }],
      }),
    };
    const catalog = parseCatalog([...BUILT_IN, custom], TESTS);
    expect(controlsOf(catalog, 'ISO27001').map((c) => c.id)).toEqual(['log-retention', 'monitoring']);
    expect(criteriaOf(catalog, 'log-retention')).toContain('ISO27001 A.8.15');
  });

  it('refuses a control no framework maps (it would never be assessed), naming it', () => {
    const orphan = {
      source: 'extra-controls.json',
      text: JSON.stringify({
        apiVersion: 'conductor.controls/v1',
        controls: [
          {
            id: 'orphan-control',
            title: 'Nobody maps me',
            description: 'A control outside every framework.',
            owner: 'grc',
            tests: ['platform.evidence-store-worm'],
            frequency: 'daily',
            severity: 'low',
            likelihood: 1,
            impact: 1,
          },
        ],
      }),
    };
    const error = errorOf(() => parseCatalog([...BUILT_IN, orphan], TESTS));
    expect(error.message).toContain('extra-controls.json: controls["orphan-control"]');
    expect(error.message).toContain('in no framework');
  });

  it('names every problem of a malformed file by file, path and reason', () => {
    const bad = {
      source: 'custom.json',
      text: JSON.stringify({
        apiVersion: 'conductor.framework/v1',
        id: 'X',
        name: 'x',
        criteria: [
          { id: 'C1', title: 't', controls: ['no-such-control'] },
          { id: 'C2', title: '', controls: [] },
        ],
      }),
    };
    const broken = { source: 'broken.json', text: '{"apiVersion": "conductor.controls/v1", "controls": [' };
    const unknownKind = { source: 'other.json', text: '{"apiVersion": "v9"}' };
    const error = errorOf(() => parseCatalog([...BUILT_IN, bad, broken, unknownKind], TESTS));
    expect(error.statusCode).toBe(400);
    expect(error.message).toContain('custom.json: id:');
    expect(error.message).toContain('custom.json: criteria[1].title:');
    expect(error.message).toContain('broken.json');
    expect(error.message).toContain(
      'other.json: apiVersion: must be "conductor.controls/v1" or "conductor.framework/v1"',
    );
  });

  it('refuses a criterion naming no control, a duplicate control, and a test no collector runs', () => {
    const extra = {
      source: 'extra.json',
      text: JSON.stringify({
        apiVersion: 'conductor.controls/v1',
        controls: [
          {
            id: 'log-retention',
            title: 't',
            description: 'd',
            owner: 'o',
            tests: ['aws.nothing-runs-this'],
            frequency: 'daily',
            severity: 'low',
            likelihood: 1,
            impact: 1,
          },
        ],
      }),
    };
    const orphan = {
      source: 'orphan.json',
      text: JSON.stringify({
        apiVersion: 'conductor.framework/v1',
        id: 'ORPHAN',
        name: 'o',
        criteria: [{ id: 'X1', title: 't', controls: ['ghost'] }],
      }),
    };
    const error = errorOf(() => parseCatalog([...BUILT_IN, extra, orphan], TESTS));
    expect(error.message).toContain(
      'extra.json: controls[0].id: duplicate control "log-retention", also in controls.json',
    );
    expect(error.message).toContain(
      'extra.json: controls[0].tests[0]: no collector runs test "aws.nothing-runs-this"',
    );
    expect(error.message).toContain(
      'orphan.json: criteria[0].controls[0]: no control "ghost" in the catalog',
    );
  });
});
