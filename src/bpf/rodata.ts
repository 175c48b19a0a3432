/**
 * Layout of an object's .rodata section from its BTF: the DATASEC type lists each variable's
 * BTF type, offset and size, which is what `setConstants` needs to write a value by name.
 */
import { koffi, libbpf } from './libbpf.js';

export interface RodataVariable {
  name: string;
  offset: number;
  size: number;
}

const BTF_TYPE_WORDS = 3; // struct btf_type { name_off; info; size/type }
const VAR_SECINFO_WORDS = 3; // struct btf_var_secinfo { type; offset; size }

function readWords(pointer: unknown, count: number): number[] {
  return koffi.decode(pointer, koffi.array('uint32_t', count)) as number[];
}

/** Variables of the DATASEC with BTF id `datasecId` (0 when the object has no BTF for it). */
export function readRodataLayout(btf: unknown, datasecId: number): RodataVariable[] {
  if (!btf || datasecId === 0) return [];
  const datasec = libbpf.btfTypeById(btf, datasecId);
  const [, info = 0] = readWords(datasec, BTF_TYPE_WORDS);
  const vlen = info & 0xffff;
  const words = readWords(datasec, BTF_TYPE_WORDS + vlen * VAR_SECINFO_WORDS);
  const variables: RodataVariable[] = [];
  for (let i = 0; i < vlen; i++) {
    const base = BTF_TYPE_WORDS + i * VAR_SECINFO_WORDS;
    const [varType = 0, offset = 0, size = 0] = words.slice(base, base + VAR_SECINFO_WORDS);
    const [nameOffset = 0] = readWords(libbpf.btfTypeById(btf, varType), BTF_TYPE_WORDS);
    variables.push({ name: libbpf.btfNameByOffset(btf, nameOffset) as string, offset, size });
  }
  return variables;
}
