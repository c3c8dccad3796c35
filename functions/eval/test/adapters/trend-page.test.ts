import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadChartJs, trendPage } from '../../src/adapters/trend-page.js';
import type { HistoryPoint } from '../../src/domain/model.js';

const HOSTILE_RUN = '</script><script>alert(1)</script>';

const point = (overrides: Partial<HistoryPoint> & Pick<HistoryPoint, 'runId' | 'at'>): HistoryPoint => ({
  suiteId: 'golden-support',
  expertId: 'exp_a',
  passRate: 0.9,
  meanScore: 0.93,
  status: 'pass',
  ...overrides,
});

/**
 * Two suites; `golden-support` has two experts. The points come out of order, and one has another
 * offset: 01:00+02:00 on the 2nd is 23:00Z on the 1st, before r-2 at 23:30Z.
 */
const POINTS: readonly HistoryPoint[] = [
  point({ runId: 'r-3', at: '2026-04-02T08:00:00.000Z', passRate: 0.8, status: 'regression' }),
  point({ runId: 'r-1', at: '2026-04-02T01:00:00.000+02:00' }),
  point({ runId: 'r-2', at: '2026-04-01T23:30:00.000Z', passRate: 0.85 }),
  point({ runId: 'r-1', expertId: 'exp_b', at: '2026-04-02T01:00:00.000+02:00', passRate: 0.5 }),
  point({ runId: HOSTILE_RUN, expertId: 'exp_b', at: '2026-04-02T09:00:00.000Z', status: 'undecided' }),
  point({ runId: 'n-1', suiteId: 'golden-billing', expertId: 'exp_a', at: '2026-04-03T00:00:00.000Z' }),
];

const FAKE_CHART_JS = 'window.Chart = function Chart() {}; var s = "</script><b>";';

const scriptsOf = (html: string): { attributes: string; body: string }[] =>
  [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)].map(([, attributes, body]) => ({
    attributes: attributes ?? '',
    body: body ?? '',
  }));

const dataOf = (
  html: string,
): {
  suites: { suiteId: string; experts: { expertId: string; canvasId: string; points: HistoryPoint[] }[] }[];
} => {
  const block = scriptsOf(html).find((s) => s.attributes.includes('id="trend-data"'));
  if (!block) throw new Error('no trend-data block');
  return JSON.parse(block.body);
};

const byRun = (a: HistoryPoint, b: HistoryPoint) =>
  `${a.suiteId} ${a.expertId} ${a.runId}`.localeCompare(`${b.suiteId} ${b.expertId} ${b.runId}`);

describe('loadChartJs', () => {
  it('reads the Chart.js UMD build from node_modules', async () => {
    // Act
    const source = await loadChartJs();

    // Assess
    expect(source.length).toBeGreaterThan(100_000);
    expect(source).toContain('Chart.js v4');
    expect(source).toContain('window.Chart=');
  });
});

describe('trendPage', () => {
  let chartJs: string;
  beforeAll(async () => {
    chartJs = await loadChartJs();
  });

  it('is one HTML5 document in UTF-8 with its title escaped', () => {
    // Prepare
    const title = 'Eval trends <acme & co>';

    // Act
    const html = trendPage(POINTS, { title, chartJs });

    // Assess
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">')).toBe(true);
    expect(html).toContain('<title>Eval trends &lt;acme &amp; co&gt;</title>');
    expect(html).toContain('<h1>Eval trends &lt;acme &amp; co&gt;</h1>');
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
  });

  it('inlines Chart.js and loads no script from the network', () => {
    // Act
    const html = trendPage(POINTS, { title: 'Trends', chartJs });

    // Assess
    const scripts = scriptsOf(html);
    expect(scripts).toHaveLength(3);
    expect(scripts.some((s) => s.body.includes('window.Chart=') && s.body.includes('Chart.js v4'))).toBe(
      true,
    );
    expect(html).not.toMatch(/<script[^>]*\bsrc=/i);
    expect(html).not.toMatch(/<link[^>]*\bhref=["']?https?:/i);
    expect(html).not.toContain('sourceMappingURL');
  });

  it('escapes </script inside the inlined library so it cannot end its element', () => {
    // Act
    const html = trendPage(POINTS, { title: 'Trends', chartJs: FAKE_CHART_JS });

    // Assess
    expect(html).toContain('var s = "<\\/script><b>";');
    expect(html).not.toContain('"</script><b>"');
    expect(scriptsOf(html)).toHaveLength(3);
  });

  it('has a section per suite and a canvas and a table of runs per expert in it', () => {
    // Act
    const html = trendPage(POINTS, { title: 'Trends', chartJs });

    // Assess
    expect([...html.matchAll(/<h2>Suite ([^<]*)<\/h2>/g)].map((m) => m[1])).toEqual([
      'golden-billing',
      'golden-support',
    ]);
    expect(html.match(/<canvas /g)).toHaveLength(3);
    expect(html.match(/<table>/g)).toHaveLength(3);
    const support = html.slice(html.indexOf('<h2>Suite golden-support'));
    expect([...support.matchAll(/<h3>([^<]*)<\/h3>/g)].map((m) => m[1])).toEqual(['exp_a', 'exp_b']);
  });

  it('lists the runs of an expert in time order, offsets taken into account, with rate and status', () => {
    // Act
    const html = trendPage(POINTS, { title: 'Trends', chartJs });

    // Assess
    const support = html.slice(html.indexOf('<h2>Suite golden-support'));
    const firstTable = support.slice(support.indexOf('<tbody>'), support.indexOf('</tbody>'));
    const rows = [
      ...firstTable.matchAll(
        /<tr><td>([^<]*)<\/td><td><time>([^<]*)<\/time><\/td><td>([^<]*)<\/td><td>[^<]*<\/td><td[^>]*>([^<]*)<\/td><\/tr>/g,
      ),
    ];
    expect(rows.map((r) => [r[1], r[3], r[4]])).toEqual([
      ['r-1', '90.0 %', 'pass'],
      ['r-2', '85.0 %', 'pass'],
      ['r-3', '80.0 %', 'regression'],
    ]);
  });

  it('embeds the points as JSON that parses back to them, grouped and in run order', () => {
    // Act
    const html = trendPage(POINTS, { title: 'Trends', chartJs });

    // Assess
    const data = dataOf(html);
    const flat = data.suites.flatMap((s) => s.experts.flatMap((e) => e.points));
    expect([...flat].sort(byRun)).toEqual([...POINTS].sort(byRun));
    const exp_a = data.suites[1]?.experts[0];
    expect(exp_a?.points.map((p) => p.runId)).toEqual(['r-1', 'r-2', 'r-3']);
    for (const suite of data.suites) {
      for (const expert of suite.experts) expect(html).toContain(`<canvas id="${expert.canvasId}"`);
    }
  });

  it('never lets a hostile run id out of its escaping', () => {
    // Act
    const html = trendPage(POINTS, { title: 'Trends', chartJs });

    // Assess
    expect(html).not.toContain(HOSTILE_RUN);
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('<td>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>');
    expect(html).toContain('\\u003c/script\\u003e\\u003cscript\\u003ealert(1)');
    expect(html.match(/<\/script>/g)).toHaveLength(3);
  });

  it('draws a line chart per expert of pass rate and mean score, in %, from 0 to 100', () => {
    // Prepare
    const html = trendPage(POINTS, { title: 'Trends', chartJs: FAKE_CHART_JS });
    const drawn: { canvas: unknown; config: Record<string, never> }[] = [];
    const json = scriptsOf(html).find((s) => s.attributes.includes('trend-data'))?.body ?? '';
    const document = {
      getElementById: (id: string) => (id === 'trend-data' ? { textContent: json } : { id }),
    };
    const Chart = function (this: unknown, canvas: unknown, config: Record<string, never>) {
      drawn.push({ canvas, config });
    };

    // Act
    runInNewContext(scriptsOf(html)[2]?.body ?? '', { document, Chart });

    // Assess
    expect(drawn.map((d) => d.canvas)).toEqual([
      { id: 'trend-0-0' },
      { id: 'trend-1-0' },
      { id: 'trend-1-1' },
    ]);
    const config = drawn[1]?.config as unknown as {
      type: string;
      data: { labels: string[]; datasets: { label: string; data: number[] }[] };
      options: { scales: { y: { min: number; max: number } } };
    };
    expect(config.type).toBe('line');
    expect(config.data.labels).toEqual(['2026-04-02 01:00', '2026-04-01 23:30', '2026-04-02 08:00']);
    expect(config.data.datasets.map((d) => [d.label, d.data])).toEqual([
      ['Pass rate', [90, 85, 80]],
      ['Mean score', [93, 93, 93]],
    ]);
    expect(config.options.scales.y).toMatchObject({ min: 0, max: 100 });
  });

  it('says there is nothing to show when there are no runs', () => {
    // Act
    const html = trendPage([], { title: 'Trends', chartJs: FAKE_CHART_JS });

    // Assess
    expect(html).toContain('<p>No runs yet.</p>');
    expect(html).not.toContain('<canvas');
    expect(dataOf(html)).toEqual({ suites: [] });
  });
});
