/** Paths of built objects for tests (run `make` / `npm run build` first). */
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const fixture = (group: string, name: string): string => `${ROOT}build/fixtures/${group}/${name}.o`;
export const builtinObject = (name: string): string => `${ROOT}build/bpf/${name}.o`;
