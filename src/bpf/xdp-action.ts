/** XDP verdicts (enum xdp_action) and their names as users read them. */
export const XdpAction = { aborted: 0, drop: 1, pass: 2, tx: 3, redirect: 4 } as const;
export type XdpActionName = keyof typeof XdpAction;
export const XDP_ACTION_NAMES: readonly XdpActionName[] = ['aborted', 'drop', 'pass', 'tx', 'redirect'];

export function xdpActionName(code: number): string {
  return XDP_ACTION_NAMES[code] ?? `unknown(${code})`;
}
