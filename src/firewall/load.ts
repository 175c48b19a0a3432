/**
 * Loading a FirewallPolicy from YAML or JSON text or a file, blocklist files included.
 * Every problem becomes one line of a PolicyError: `path: what is wrong and the fix`, the path
 * written like `rules[2].dstPorts[1]`, or `blocklists[0].file (bogons.txt) line 12`.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { InvalidArgumentError } from '../bpf/errors.js';
import { issuesFromZod as issuesFromDocument, type DocumentIssue } from '../config/document.js';
import { parseCidr, parseCidrFast, type Cidr } from './cidr.js';
import { policyDocumentSchema, type Blocklist, type FirewallPolicy } from './schema.js';

export type PolicyIssue = DocumentIssue;

export class PolicyError extends InvalidArgumentError {
  constructor(
    readonly source: string,
    readonly issues: PolicyIssue[],
  ) {
    const lines = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
    super(
      issues.length === 1 ? `${source}: ${lines[0]}` : `${source}: ${issues.length} problems`,
      {
        ...(issues.length > 1 && { details: lines.map((l) => `  ${l}`).join('\n') }),
        hint: 'fix the policy and try again (the format is in issue 8 / docs: apiVersion xdpkit/v1, kind FirewallPolicy)',
      },
    );
  }
}

const KNOWN_FIELDS = [
  'apiVersion', 'kind', 'default', 'malformed', 'blocklists', 'rules', 'mitigation',
  'name', 'action', 'proto', 'src', 'dst', 'srcPorts', 'dstPorts', 'tcpFlags', 'rate', 'pps', 'burst',
  'file', 'entries', 'threshold', 'blockFor',
];

export function issuesFromZod(error: z.ZodError): PolicyIssue[] {
  return issuesFromDocument(error, KNOWN_FIELDS);
}

/** One CIDR or address per line; '#' starts a comment; blank lines are skipped. */
export function parseBlocklistText(text: string, where: string): { entries: Cidr[]; issues: PolicyIssue[] } {
  const entries: Cidr[] = [];
  const issues: PolicyIssue[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const hash = lines[i]!.indexOf('#');
    const line = (hash < 0 ? lines[i]! : lines[i]!.slice(0, hash)).trim();
    if (line === '') continue;
    try {
      entries.push(parseCidrFast(line) ?? parseCidr(line));
    } catch (e) {
      if (issues.length < 20) issues.push({ path: `${where} line ${i + 1}`, message: (e as Error).message });
      else if (issues.length === 20) issues.push({ path: `${where}`, message: 'more bad lines follow; fix the ones above first' });
    }
  }
  return { entries, issues };
}

export interface ParsePolicyOptions {
  /** Name used in messages (the file path); default "policy". */
  source?: string;
  /** Directory that relative blocklist paths are read from; default the current directory. */
  baseDir?: string;
  /** Reads a blocklist file (tests inject one); default fs.readFileSync as UTF-8. */
  readFile?: (path: string) => string;
}

/** Parses YAML or JSON (JSON is YAML) policy text into a validated FirewallPolicy. */
export function parsePolicyText(text: string, options: ParsePolicyOptions = {}): FirewallPolicy {
  const source = options.source ?? 'policy';
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      source,
      doc.errors.map((e) => ({ path: '', message: `not valid YAML/JSON: ${e.message.split('\n')[0]}` })),
    );
  }
  return policyFromObject(doc.toJS(), options);
}

/** Validates an already parsed object (e.g. from an HTTP API body). */
export function policyFromObject(value: unknown, options: ParsePolicyOptions = {}): FirewallPolicy {
  const source = options.source ?? 'policy';
  const parsed = policyDocumentSchema.safeParse(value ?? undefined);
  if (!parsed.success) throw new PolicyError(source, issuesFromZod(parsed.error));
  const doc = parsed.data;
  const read = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const issues: PolicyIssue[] = [];
  const blocklists: Blocklist[] = doc.blocklists.map((b, index) => {
    if (b.entries !== undefined) return { index, name: b.name, source: 'entries', entries: b.entries };
    const file = b.file!;
    const full = isAbsolute(file) ? file : resolve(options.baseDir ?? process.cwd(), file);
    const where = `blocklists[${index}].file (${file})`;
    let text: string;
    try {
      text = read(full);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      issues.push({
        path: `blocklists[${index}].file`,
        message:
          code === 'ENOENT'
            ? `${full} does not exist; blocklist paths are relative to the policy file`
            : `cannot read ${full}: ${(e as Error).message}`,
      });
      return { index, name: b.name, source: file, entries: [] };
    }
    const r = parseBlocklistText(text, where);
    issues.push(...r.issues);
    return { index, name: b.name, source: file, entries: r.entries };
  });
  if (issues.length > 0) throw new PolicyError(source, issues);
  return {
    default: doc.default,
    malformed: doc.malformed,
    blocklists,
    rules: doc.rules,
    ...(doc.mitigation !== undefined && { mitigation: doc.mitigation }),
  };
}

/** Reads a policy file (.yaml, .yml or .json); blocklist files are relative to it. */
export function loadPolicyFile(path: string, options: Omit<ParsePolicyOptions, 'source' | 'baseDir'> = {}): FirewallPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PolicyError(path, [
      { path: '', message: code === 'ENOENT' ? 'file does not exist; check the -f path' : `cannot read: ${(e as Error).message}` },
    ]);
  }
  return parsePolicyText(text, { ...options, source: path, baseDir: dirname(resolve(path)) });
}
