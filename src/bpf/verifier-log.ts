/**
 * The verifier's log can run to megabytes; the user needs the failing instruction, the few
 * instructions before it (with their source lines when the object has BTF line info), and the
 * verifier's complaint. These functions extract that.
 */

/** Lines of context kept before the failing instruction. */
const CONTEXT_LINES = 12;

const INSTRUCTION = /^\d+: \([0-9a-f]{2}\)/;

/**
 * Keeps the end of the log: the last instruction the verifier looked at, `context` lines before
 * it, and everything after it (the error message and the summary).
 */
export function trimVerifierLog(log: string, context = CONTEXT_LINES): string {
  const lines = log.replace(/\0/g, '').trimEnd().split('\n');
  let last = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (INSTRUCTION.test(lines[i] ?? '')) {
      last = i;
      break;
    }
  }
  if (last < 0) return lines.slice(-context).join('\n');
  const start = Math.max(0, last - context);
  return [...(start > 0 ? [`… (${start} earlier lines omitted)`] : []), ...lines.slice(start)].join('\n');
}

/** The verifier's own complaint: the first non-instruction line after the last instruction. */
export function verifierComplaint(log: string): string | undefined {
  const lines = log.replace(/\0/g, '').trimEnd().split('\n');
  let lastInstruction = -1;
  lines.forEach((line, i) => {
    if (INSTRUCTION.test(line)) lastInstruction = i;
  });
  return lines
    .slice(lastInstruction + 1)
    .find((line) => line.trim() !== '' && !line.startsWith('processed ') && !line.startsWith(';'));
}

/** Extracts the program load log from libbpf's messages ("-- BEGIN PROG LOAD LOG --" … "-- END"). */
export function extractLoadLog(libbpfText: string): string | undefined {
  const match = /-- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/.exec(libbpfText);
  return match?.[1];
}
