/**
 * XDP attach, atomic replace, detach and query. Attaches through a BPF link where the kernel
 * has them (a link can be pinned to outlive the loader and replaced with bpf_link_update) and
 * through netlink otherwise (replace with XDP_FLAGS_REPLACE). The mode is always explicit and
 * the result always says which mode is in force: `auto` tries native first and reports when it
 * had to use generic.
 */
import { BusyError, errorFromErrno, InvalidArgumentError, NotSupportedError, XdpkitError } from './errors.js';
import { linkInfo, listLinkIds, programInfo, programInfoById, withLinkFd, withProgramFd } from './info.js';
import {
  BPF_XDP,
  libbpf,
  libcCalls,
  XDP_ATTACHED_DRV,
  XDP_ATTACHED_HW,
  XDP_ATTACHED_MULTI,
  XDP_ATTACHED_SKB,
  XDP_FLAGS_DRV_MODE,
  XDP_FLAGS_HW_MODE,
  XDP_FLAGS_REPLACE,
  XDP_FLAGS_SKB_MODE,
  XDP_FLAGS_UPDATE_IF_NOEXIST,
} from './libbpf.js';

export type XdpModeRequest = 'native' | 'generic' | 'auto';
export type XdpMode = 'native' | 'generic' | 'offload';

/** The interface to act on: index for the kernel, name and driver for messages. */
export interface XdpTarget {
  ifindex: number;
  name: string;
  driver?: string;
}

export interface XdpAttachment {
  mode: XdpMode;
  programId: number;
  programName: string;
  programTag: string;
  /** The BPF link holding the program, when it was attached through one. */
  linkId?: number;
}

export interface AttachOptions {
  mode: XdpModeRequest;
  /** Replace whatever is attached (atomically where the kernel allows). */
  force?: boolean;
  /** Attach through netlink even where links exist (e.g. for tools that expect it). */
  netlink?: boolean;
}

export interface AttachResult {
  mode: 'native' | 'generic';
  via: 'link' | 'netlink';
  /** Open fd of the new link (via 'link' only): close or pin it; closing an unpinned link detaches. */
  linkFd?: number;
  programId: number;
  /** What happened to the program that was there before, if any. */
  replaced?: XdpAttachment;
  /** Why `auto` ended up in generic mode. */
  fallbackReason?: string;
}

const MODE_FLAGS: Record<'native' | 'generic', number> = { native: XDP_FLAGS_DRV_MODE, generic: XDP_FLAGS_SKB_MODE };
const BPF_LINK_TYPE_XDP = 6;
const BPF_F_REPLACE = 1 << 2;
const EOPNOTSUPP = 95;
const EBUSY = 16;
const EEXIST = 17;
const EINVAL = 22;

/** Everything attached to the interface in each mode, with program names and links. */
export function queryXdp(target: XdpTarget): XdpAttachment[] {
  const opts = { sz: 32, prog_id: 0, drv_prog_id: 0, hw_prog_id: 0, skb_prog_id: 0, attach_mode: 0 };
  const rc = libbpf.xdpQuery(target.ifindex, 0, opts) as number;
  if (rc < 0) throw errorFromErrno(`querying XDP on ${target.name}`, rc);
  const byMode: [XdpMode, number][] = [];
  switch (opts.attach_mode) {
    case XDP_ATTACHED_DRV:
      byMode.push(['native', opts.prog_id]);
      break;
    case XDP_ATTACHED_SKB:
      byMode.push(['generic', opts.prog_id]);
      break;
    case XDP_ATTACHED_HW:
      byMode.push(['offload', opts.prog_id]);
      break;
    case XDP_ATTACHED_MULTI:
      if (opts.drv_prog_id) byMode.push(['native', opts.drv_prog_id]);
      if (opts.skb_prog_id) byMode.push(['generic', opts.skb_prog_id]);
      if (opts.hw_prog_id) byMode.push(['offload', opts.hw_prog_id]);
      break;
  }
  if (byMode.length === 0) return [];
  const links = xdpLinksOn(target.ifindex);
  return byMode.map(([mode, programId]) => {
    const info = programInfoById(programId);
    const linkId = links.find((l) => l.programId === programId)?.id;
    return { mode, programId, programName: info.name, programTag: info.tag, ...(linkId ? { linkId } : {}) };
  });
}

/** XDP links whose interface is `ifindex` (links are global; ifindex is that of their netns). */
function xdpLinksOn(ifindex: number): { id: number; programId: number }[] {
  const found: { id: number; programId: number }[] = [];
  for (const id of listLinkIds()) {
    try {
      const info = withLinkFd(id, linkInfo);
      if (info.type === BPF_LINK_TYPE_XDP && info.ifindex === ifindex) found.push({ id, programId: info.programId });
    } catch {
      // The link went away between listing and opening it: nothing to report.
    }
  }
  return found;
}

/**
 * Attaches `programFd` to the interface. With something already attached: a BusyError naming
 * it, or with `force` an atomic replace (link update, or netlink XDP_FLAGS_REPLACE).
 */
export function attachXdp(target: XdpTarget, programFd: number, options: AttachOptions): AttachResult {
  const current = queryXdp(target);
  const existing = current[0];
  if (existing && !options.force) {
    throw new BusyError(
      `${target.name} already has XDP program ${existing.programName} (id ${existing.programId}, ${existing.mode} mode${existing.linkId ? `, link ${existing.linkId}` : ''})`,
      {
        errno: EBUSY,
        hint: `replace it atomically with --force, or remove it first: xdpkit prog unload ${target.name}`,
      },
    );
  }
  if (existing) return replaceExisting(target, programFd, existing, options);
  if (options.mode === 'auto') return attachAuto(target, programFd, options);
  return attachFresh(target, programFd, options.mode, options);
}

function attachAuto(target: XdpTarget, programFd: number, options: AttachOptions): AttachResult {
  try {
    return attachFresh(target, programFd, 'native', options);
  } catch (error) {
    if (!(error instanceof NotSupportedError)) throw error;
    const result = attachFresh(target, programFd, 'generic', options);
    return { ...result, fallbackReason: `native XDP is not supported by ${driverText(target)}` };
  }
}

function attachFresh(target: XdpTarget, programFd: number, mode: 'native' | 'generic', options: AttachOptions): AttachResult {
  const programId = programInfo(programFd).id;
  if (!options.netlink) {
    const linkFd = libbpf.linkCreate(programFd, target.ifindex, BPF_XDP, { sz: 64, flags: MODE_FLAGS[mode] }) as number;
    if (linkFd >= 0) return { mode, via: 'link', linkFd, programId };
    // Kernels before 5.9 have no XDP links: netlink does the same job, without pinning.
    if (-linkFd !== EINVAL) throw attachError(target, mode, linkFd);
  }
  const rc = libbpf.xdpAttach(target.ifindex, programFd, MODE_FLAGS[mode] | XDP_FLAGS_UPDATE_IF_NOEXIST, null) as number;
  if (rc < 0) throw attachError(target, mode, rc);
  return { mode, via: 'netlink', programId };
}

function replaceExisting(target: XdpTarget, programFd: number, existing: XdpAttachment, options: AttachOptions): AttachResult {
  const mode = options.mode === 'auto' ? existingModeOrNative(existing) : options.mode;
  if (existing.mode !== mode) {
    throw new BusyError(
      `${target.name} has ${existing.programName} in ${existing.mode} mode; an atomic replace cannot change the mode to ${mode}`,
      { errno: EBUSY, hint: `unload it first (xdpkit prog unload ${target.name}), then load in ${mode} mode` },
    );
  }
  const programId = programInfo(programFd).id;
  if (existing.linkId !== undefined) {
    withLinkFd(existing.linkId, (linkFd) =>
      withProgramFd(existing.programId, (oldFd) => {
        const rc = libbpf.linkUpdate(linkFd, programFd, { sz: 16, flags: BPF_F_REPLACE, old_prog_fd: oldFd }) as number;
        if (rc < 0) throw replaceError(target, rc, existing);
      }),
    );
    return { mode, via: 'link', programId, replaced: existing };
  }
  withProgramFd(existing.programId, (oldFd) => {
    const rc = libbpf.xdpAttach(target.ifindex, programFd, MODE_FLAGS[mode] | XDP_FLAGS_REPLACE, { sz: 16, old_prog_fd: oldFd }) as number;
    if (rc < 0) throw replaceError(target, rc);
  });
  return { mode, via: 'netlink', programId, replaced: existing };
}

function existingModeOrNative(existing: XdpAttachment): 'native' | 'generic' {
  if (existing.mode === 'offload') {
    throw new NotSupportedError('replacing an offloaded XDP program is not supported', { hint: 'unload it with ip link set dev IF xdpoffload off' });
  }
  return existing.mode;
}

/**
 * Replaces the program on `target` only if `expectedProgramId` is still the one attached:
 * the swap is atomic, so traffic never sees the interface without a program.
 */
export function replaceXdp(target: XdpTarget, programFd: number, expectedProgramId?: number): AttachResult {
  const existing = queryXdp(target)[0];
  if (!existing) {
    throw new InvalidArgumentError(`${target.name} has no XDP program to replace`, { hint: `load one: xdpkit prog load ${target.name} PROGRAM` });
  }
  if (expectedProgramId !== undefined && existing.programId !== expectedProgramId) {
    throw new BusyError(`${target.name} now runs program id ${existing.programId}, not ${expectedProgramId}: someone else changed it`, {
      errno: EBUSY,
      hint: 'check with xdpkit status and retry',
    });
  }
  return replaceExisting(target, programFd, existing, { mode: existingModeOrNative(existing), force: true });
}

/** Detaches every XDP program from the interface (links too). Returns what was removed. */
export function detachXdp(target: XdpTarget): XdpAttachment[] {
  const current = queryXdp(target);
  for (const attachment of current) {
    if (attachment.linkId !== undefined) {
      withLinkFd(attachment.linkId, (linkFd) => {
        const rc = libbpf.linkDetach(linkFd) as number;
        if (rc < 0) throw errorFromErrno(`detaching link ${attachment.linkId} from ${target.name}`, rc);
      });
    } else {
      const flags = attachment.mode === 'generic' ? XDP_FLAGS_SKB_MODE : attachment.mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_HW_MODE;
      const rc = libbpf.xdpDetach(target.ifindex, flags, null) as number;
      if (rc < 0) throw errorFromErrno(`detaching XDP from ${target.name}`, rc);
    }
  }
  return current;
}

/** Closes a link fd (an unpinned link detaches when its last fd closes). */
export function closeLinkFd(linkFd: number): void {
  libcCalls.close(linkFd);
}

function driverText(target: XdpTarget): string {
  return target.driver ? `the ${target.driver} driver of ${target.name}` : `the driver of ${target.name}`;
}

function attachError(target: XdpTarget, mode: 'native' | 'generic', rc: number): XdpkitError {
  const errno = -rc;
  if (errno === EOPNOTSUPP && mode === 'native') {
    return new NotSupportedError(`native XDP is not supported by ${driverText(target)}`, {
      errno,
      hint: `use --mode generic (slower, works on every interface), or --mode auto to pick native where it exists`,
    });
  }
  if (errno === EBUSY || errno === EEXIST) {
    return new BusyError(`another XDP program is attached to ${target.name}`, {
      errno,
      hint: `see it with xdpkit status ${target.name}; replace it with --force or remove it with xdpkit prog unload ${target.name}`,
    });
  }
  return errorFromErrno(`attaching XDP in ${mode} mode to ${target.name}`, rc);
}

function replaceError(target: XdpTarget, rc: number, existing?: XdpAttachment): XdpkitError {
  // bpf_link_update refuses (EINVAL) a program whose type or expected attach type differs from
  // the one in the link, e.g. one loaded by a tool that left the attach type unset.
  if (-rc === EINVAL && existing?.linkId !== undefined) {
    return new InvalidArgumentError(
      `cannot swap ${existing.programName} (id ${existing.programId}) on ${target.name} for the new program atomically: the kernel refused it (EINVAL), their program or attach types differ`,
      { errno: EINVAL, hint: `unload it first (xdpkit prog unload ${target.name}), then load without --force` },
    );
  }
  if (-rc === EEXIST || -rc === EBUSY || -rc === EINVAL) {
    return new BusyError(`the program on ${target.name} changed while it was being replaced`, {
      errno: -rc,
      hint: 'check with xdpkit status and retry',
    });
  }
  return errorFromErrno(`replacing the XDP program on ${target.name}`, rc);
}
