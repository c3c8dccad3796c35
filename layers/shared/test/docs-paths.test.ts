import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The docs cite repository files (`functions/router/src/app.ts`, [the router](../router/README.md)):
 * a newcomer who follows one must find it. Placeholders (`functions/<pillar>/`), globs and files
 * the runtime writes (`.conductor/tokens.env`) are not citations of the repository.
 */
const root = resolve(import.meta.dirname, '../../..');

/** Folders whose READMEs are documentation (none under node_modules, build output or data). */
const SKIPPED_DIRS = new Set([
  'node_modules',
  '.git',
  '.tmp',
  '.conductor',
  '.tools',
  'cdk.out',
  'generator',
]);

const readmesUnder = (dir: string): string[] =>
  existsSync(join(root, dir))
    ? readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
        const path = join(dir, entry.name);
        if (entry.isDirectory())
          return SKIPPED_DIRS.has(entry.name) || entry.name.startsWith('cdk.out') ? [] : readmesUnder(path);
        return entry.name === 'README.md' ? [path] : [];
      })
    : [];

const DOCS = [
  'README.md',
  'CONTRIBUTING.md',
  'SECURITY.md',
  'CHANGELOG.md',
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name)),
  ...['functions', 'infra', 'policies', 'layers', 'bench', 'examples', 'clients'].flatMap(readmesUnder),
].filter((doc) => existsSync(join(root, doc)));

/** Top-level folders of the repository: a backticked path starting with one is a citation. */
const CITED_ROOTS =
  /^(functions|layers|infra|policies|bench|docs|test|scripts|examples|clients|src|\.github|\.ci)\//;
const PLACEHOLDER = /[<>*{}$…]|\.\.\.|\|/;

/** The repository paths a document cites: in backticks, and as relative Markdown links. */
const citedPaths = (markdown: string): string[] => {
  const cited = new Set<string>();
  for (const [, code] of markdown.matchAll(/`([^`\s]+)`/g))
    if (code && CITED_ROOTS.test(code) && !PLACEHOLDER.test(code))
      cited.add(code.replace(/:\d+(-\d+)?$/, ''));
  for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)\)/g))
    if (target && !/^[a-z]+:|^#|^mailto:/i.test(target) && !PLACEHOLDER.test(target))
      cited.add(target.replace(/#.*$/, ''));
  return [...cited].filter((path) => path.length > 0);
};

/** The pillar folders: `src/app.ts` in a doc about pillars means a pillar's (`functions/<pillar>/src/app.ts`). */
const PILLAR_DIRS = readdirSync(join(root, 'functions'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => join('functions', entry.name));

/** Documents cited by name (`DESIGN §8`, `DESIGN.md §10`, `PRD §6.2`): they must be in the repository too. */
const citedDocuments = (markdown: string): string[] => [
  ...new Set(
    [...markdown.matchAll(/\b([A-Z][A-Z_-]{2,})(?:\.md)?(?:'s)? §\s?\d|\b([A-Z][A-Z_-]{2,})\.md\b/g)].map(
      ([, named, file]) => `${named ?? file}.md`,
    ),
  ),
];

/** A cited path exists from the repository root, the document's own folder or (src/, test/) a pillar's. */
const missingFrom = (doc: string, text: string): string[] => [
  ...citedPaths(text).filter((path) => {
    const bases = ['', dirname(doc), ...(/^(src|test)\//.test(path) ? PILLAR_DIRS : [])];
    return !bases.some((base) => existsSync(join(root, base, path)));
  }),
  ...citedDocuments(text).filter(
    (name) => !['', 'docs', dirname(doc)].some((base) => existsSync(join(root, base, name))),
  ),
];

describe('paths cited by the docs', () => {
  it('finds the documents it checks (the README, docs/ and the folder READMEs)', () => {
    expect(DOCS).toContain('README.md');
    expect(DOCS).toContain(join('functions', 'router', 'README.md'));
    expect(DOCS).toContain(join('infra', 'local', 'README.md'));
  });

  it('recognises backticked paths and relative links, not placeholders, globs or URLs', () => {
    const cited = citedPaths(
      'See `functions/router/src/app.ts`, `infra/local/queue.ts:12`, [reward](../reward/README.md#trigger), ' +
        '`functions/<pillar>/pillar.ts`, `functions/*/test`, [site](https://example.com/a/b), `npm start`.',
    );
    expect(cited).toEqual(['functions/router/src/app.ts', 'infra/local/queue.ts', '../reward/README.md']);
  });

  it("reports a cited file that is not there, and resolves links from the document's folder", () => {
    const text =
      '`infra/local/queue.ts`, `infra/local/no-such-file.ts`, [reward](../reward/README.md), `src/app.ts`';

    expect(missingFrom(join('functions', 'router', 'README.md'), text)).toEqual([
      'infra/local/no-such-file.ts',
    ]);
    expect(missingFrom('README.md', text)).toEqual(['infra/local/no-such-file.ts', '../reward/README.md']);
  });

  it('reports a document cited by name that the repository does not have, not one it has', () => {
    const text = 'As DESIGN §8 and DESIGN.md §10 say, and PRD §6.2; see README.md.';

    expect(missingFrom('README.md', text)).toEqual(['DESIGN.md', 'PRD.md']);
  });

  it.each(DOCS)('%s cites only files that are in the repository', (doc) => {
    expect(missingFrom(doc, readFileSync(join(root, doc), 'utf8')), `${doc} cites missing paths`).toEqual([]);
  });
});
