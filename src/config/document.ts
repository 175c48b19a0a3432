/**
 * What every declarative document (firewall policies, load balancer configs) needs to report
 * problems the same way: a path like `rules[2].dstPorts[1]` and a message with the fix, zod
 * issues turned into those, "did you mean" for misspelt fields, and zod helpers that make a
 * missing field say "is required".
 */
import { z } from 'zod';

export interface DocumentIssue {
  /** Where: `services[2].backends[1].weight`; empty for the document itself. */
  path: string;
  message: string;
}

/** ['rules', 2, 'dstPorts', 1] → "rules[2].dstPorts[1]". */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

/** Case-insensitive Levenshtein distance. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** "did you mean …" for a field within two edits of a known one, otherwise "remove it". */
export function suggestField(key: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const field of known) {
    const distance = editDistance(key, field);
    if (distance < bestDistance) [best, bestDistance] = [field, distance];
  }
  return best === undefined ? 'remove it' : `did you mean "${best}"?`;
}

/** zod's issues as document issues; unknown keys get a suggestion from `knownFields`. */
export function issuesFromZod(error: z.ZodError, knownFields: readonly string[]): DocumentIssue[] {
  const out: DocumentIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: formatPath([...issue.path, key]), message: `unknown field "${key}"; ${suggestField(key, knownFields)}` });
      }
    } else {
      out.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return out;
}

/** A zod error message for a wrong value that says "is required: …" when the field is missing. */
export function requiredOr(text: string) {
  return (issue: { input?: unknown }): string => (issue.input === undefined ? `is required: ${text.replace(/^must be /, '')}` : text);
}

/** A zod transform from a parser that throws: its message becomes the issue. */
export function fromParser<I, O>(parse: (value: I) => O) {
  return (value: I, ctx: z.RefinementCtx): O => {
    try {
      return parse(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  };
}
