import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { EdgeState, EdgeStorage } from './storage.js';

/**
 * An edge client's state in one JSON file (Node): written to `<file>.tmp`, flushed, then renamed
 * over the file, so a crash leaves the old state or the new one, never half of either.
 */
export class FileStorage implements EdgeStorage {
  constructor(private readonly file: string) {}

  async load(): Promise<EdgeState | undefined> {
    try {
      return JSON.parse(await readFile(this.file, 'utf8')) as EdgeState;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async save(state: EdgeState): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const temporary = `${this.file}.tmp`;
    await writeFile(temporary, JSON.stringify(state), { encoding: 'utf8', flush: true });
    await rename(temporary, this.file);
  }
}
