/**
 * One health check of one backend, from the calling process's network namespace (the load
 * balancer's, when `xdpkit lb health` runs there) to the backend's own address and the check's
 * port, never through the VIP (as keepalived checks a real server): a TCP connect, or an HTTP GET
 * (with the check's Host header, if any) that must answer an expected status (2xx or 3xx unless
 * the check says), each within the check's timeout. Never throws: a failure is a result with
 * what was seen ("connect ECONNREFUSED", "HTTP 503 (expected 200-399)", "no answer within 1000 ms").
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { DEFAULT_HTTP_EXPECT, formatExpect, statusExpected, type HealthCheck } from './model.js';

export interface ProbeResult {
  ok: boolean;
  /** What the probe saw: "connected", "HTTP 200", "connect ECONNREFUSED", … */
  detail: string;
  ms: number;
}

/** `signal` cancels the check (a stopping checker does not wait for its timeouts). */
export function probe(address: string, check: HealthCheck, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  const result = (ok: boolean, detail: string): ProbeResult => ({ ok, detail, ms: Math.round(performance.now() - started) });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: ProbeResult, cleanup: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      cleanup();
      resolve(r);
    };
    const what = check.type === 'tcp' ? `tcp:${check.port}` : `http:${check.port}${check.path ?? '/'}`;
    let cleanup = (): void => {};
    const timer = setTimeout(() => finish(result(false, `${what} no answer within ${check.timeoutMs} ms`), cleanup), check.timeoutMs);
    signal?.addEventListener('abort', () => finish(result(false, `${what} cancelled`), cleanup), { once: true });
    if (check.type === 'tcp') {
      const socket = connect({ host: address, port: check.port });
      cleanup = () => socket.destroy();
      socket.once('connect', () => finish(result(true, `${what} connected`), cleanup));
      socket.once('error', (e: NodeJS.ErrnoException) => finish(result(false, `${what} connect ${e.code ?? e.message}`), cleanup));
      return;
    }
    const req = request(
      {
        host: address,
        port: check.port,
        path: check.path ?? '/',
        method: 'GET',
        agent: false,
        headers: { 'user-agent': 'xdpkit-health', connection: 'close', ...(check.host !== undefined && { host: check.host }) },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        const ok = statusExpected(check, status);
        finish(result(ok, `${what} HTTP ${status}${ok ? '' : ` (expected ${formatExpect(check.expect ?? DEFAULT_HTTP_EXPECT)})`}`), cleanup);
      },
    );
    cleanup = () => req.destroy();
    req.once('error', (e: NodeJS.ErrnoException) => finish(result(false, `${what} ${e.code ?? e.message}`), cleanup));
    req.end();
  });
}
