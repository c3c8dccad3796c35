import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { HistoryPoint, RunStatus } from '../domain/model.js';

/**
 * The trend page: one self-contained HTML file (it opens from `file://`, fetches nothing) with, per
 * suite, a Chart.js line chart per expert of pass rate and mean score run by run, and the runs in a
 * table under it (readable with scripts off too). Chart.js is inlined; the data rides in a JSON
 * block that no run id can close, and every string that reaches markup goes through `escapeHtml`.
 */

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c] ?? c);

/**
 * Chart.js's UMD build, as text. Its `exports` map exposes neither `dist/chart.umd.min.js` nor
 * `package.json`, so the package's CommonJS entry (`dist/chart.cjs`) is resolved and the UMD build
 * read from beside it.
 */
export const loadChartJs = async (): Promise<string> => {
  const entry = createRequire(import.meta.url).resolve('chart.js');
  return readFile(join(dirname(entry), 'chart.umd.min.js'), 'utf8');
};

/** Script text safe inside `<script>`: nothing in it can end the element. */
const inlineScript = (source: string): string =>
  source.replace(/^\/\/# sourceMappingURL=.*$/gm, '').replace(/<\/(script)/gi, '<\\/$1');

/** JSON safe inside `<script type="application/json">`: no `<` (nor `>`, `&`) survives as such. */
const inlineJson = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

interface ExpertTrend {
  readonly expertId: string;
  readonly canvasId: string;
  /** In run order (time, then run id). */
  readonly points: readonly HistoryPoint[];
}

interface SuiteTrend {
  readonly suiteId: string;
  readonly experts: readonly ExpertTrend[];
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** ISO date-times compared as instants (offsets differ), as text when one does not parse. */
const inRunOrder = (a: HistoryPoint, b: HistoryPoint): number =>
  Date.parse(a.at) - Date.parse(b.at) || byText(a.at, b.at) || byText(a.runId, b.runId);

const groupOf = (points: readonly HistoryPoint[]): SuiteTrend[] => {
  const suites = new Map<string, Map<string, HistoryPoint[]>>();
  for (const point of points) {
    let experts = suites.get(point.suiteId);
    if (!experts) {
      experts = new Map();
      suites.set(point.suiteId, experts);
    }
    const list = experts.get(point.expertId);
    if (list) list.push(point);
    else experts.set(point.expertId, [point]);
  }
  return [...suites.entries()]
    .sort(([a], [b]) => byText(a, b))
    .map(([suiteId, experts], s) => ({
      suiteId,
      experts: [...experts.entries()]
        .sort(([a], [b]) => byText(a, b))
        .map(([expertId, list], e) => ({
          expertId,
          canvasId: `trend-${s}-${e}`,
          points: list.sort(inRunOrder),
        })),
    }));
};

const percent = (rate: number): string => (Number.isFinite(rate) ? `${(rate * 100).toFixed(1)} %` : '—');

const STATUS_CLASSES: ReadonlySet<RunStatus> = new Set([
  'pass',
  'regression',
  'undecided',
  'infrastructure_failure',
]);

const runRow = (point: HistoryPoint): string => {
  const statusClass = STATUS_CLASSES.has(point.status) ? ` class="status-${point.status}"` : '';
  return `<tr><td>${escapeHtml(point.runId)}</td><td><time>${escapeHtml(point.at)}</time></td><td>${percent(point.passRate)}</td><td>${percent(point.meanScore)}</td><td${statusClass}>${escapeHtml(String(point.status).replace(/_/g, ' '))}</td></tr>`;
};

const expertSection = (expert: ExpertTrend): string =>
  [
    `<section class="expert">`,
    `<h3>${escapeHtml(expert.expertId)}</h3>`,
    `<div class="chart"><canvas id="${expert.canvasId}" role="img" aria-label="${escapeHtml(`Pass rate and mean score of ${expert.expertId}, run by run`)}"></canvas></div>`,
    '<table>',
    '<thead><tr><th>Run</th><th>Date</th><th>Pass rate</th><th>Mean score</th><th>Status</th></tr></thead>',
    `<tbody>${expert.points.map(runRow).join('')}</tbody>`,
    '</table>',
    '</section>',
  ].join('\n');

const suiteSection = (suite: SuiteTrend): string =>
  [
    `<section class="suite">`,
    `<h2>Suite ${escapeHtml(suite.suiteId)}</h2>`,
    ...suite.experts.map(expertSection),
    '</section>',
  ].join('\n');

/** Draws a chart per expert from the JSON block; kept to ES2017 and the UMD global `Chart`. */
const DRAW = `(function () {
  var data = JSON.parse(document.getElementById('trend-data').textContent);
  if (typeof Chart === 'undefined') return;
  var pct = function (v) { return typeof v === 'number' ? Math.round(v * 1000) / 10 : null; };
  data.suites.forEach(function (suite) {
    suite.experts.forEach(function (expert) {
      var canvas = document.getElementById(expert.canvasId);
      if (!canvas) return;
      var points = expert.points;
      new Chart(canvas, {
        type: 'line',
        data: {
          labels: points.map(function (p) { return p.at.replace('T', ' ').slice(0, 16); }),
          datasets: [
            { label: 'Pass rate', data: points.map(function (p) { return pct(p.passRate); }),
              borderColor: '#1f6feb', backgroundColor: '#1f6feb', tension: 0 },
            { label: 'Mean score', data: points.map(function (p) { return pct(p.meanScore); }),
              borderColor: '#d9822b', backgroundColor: '#d9822b', borderDash: [6, 4], tension: 0 }
          ]
        },
        options: {
          animation: false,
          maintainAspectRatio: false,
          interaction: { mode: 'index', intersect: false },
          scales: {
            y: { min: 0, max: 100, ticks: { callback: function (v) { return v + ' %'; } } },
            x: { title: { display: true, text: 'Run time' } }
          },
          plugins: {
            tooltip: {
              callbacks: {
                title: function (items) { var p = points[items[0].dataIndex]; return p.runId + ' (' + p.at + ')'; },
                afterBody: function (items) { return 'status: ' + points[items[0].dataIndex].status; }
              }
            }
          }
        }
      });
    });
  });
})();`;

const STYLE = `body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #d0d7de; } h3 { margin-bottom: .5rem; }
.chart { position: relative; height: 18rem; }
table { border-collapse: collapse; margin: 1rem 0 2rem; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; }
td:nth-child(3), td:nth-child(4) { text-align: right; font-variant-numeric: tabular-nums; }
.status-pass { color: #1a7f37; } .status-regression, .status-infrastructure_failure { color: #cf222e; } .status-undecided { color: #9a6700; }`;

/**
 * The trend page of `points`: a section per suite, a chart and a table per expert in it. `chartJs`
 * is Chart.js's UMD build (`loadChartJs()`), inlined so the page needs no network.
 */
export const trendPage = (
  points: readonly HistoryPoint[],
  options: { title: string; chartJs: string },
): string => {
  const suites = groupOf(points);
  const body = suites.length === 0 ? '<p>No runs yet.</p>' : suites.map(suiteSection).join('\n');
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(options.title)}</title>`,
    `<style>\n${STYLE}\n</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(options.title)}</h1>`,
    '<p>Each golden suite run measures every expert: the <strong>pass rate</strong> is the weighted share of tasks that passed, the <strong>mean score</strong> the weighted mean of their scores (both in %). A run is a point, oldest on the left; the table under each chart lists the same runs with the run’s overall status.</p>',
    body,
    `<script type="application/json" id="trend-data">${inlineJson({ suites })}</script>`,
    `<script>\n${inlineScript(options.chartJs)}\n</script>`,
    `<script>\n${DRAW}\n</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
};
