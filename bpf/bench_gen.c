/* bench_gen: the benchmarks' in-kernel traffic generator.
 *
 * Run with BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES on one end of a veth pair: every
 * frame it returns XDP_TX for is really transmitted to the peer. Live-frames pages are
 * recycled without their data being reset, and a receiver that rewrites frames in place would
 * otherwise poison later ones, so the whole template is written into every frame.
 *
 * templates: one complete frame per flow, built (with valid checksums) by the control plane;
 * frame i gets template i % nr_flows. All templates have the length of the test-run packet. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef BENCH_MAX_FLOWS
#define BENCH_MAX_FLOWS 4096
#endif
#ifndef BENCH_MAX_FRAME
#define BENCH_MAX_FRAME 1536
#endif

struct bench_template {
	__u32 len;
	__u8 data[BENCH_MAX_FRAME];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BENCH_MAX_FLOWS);
	__type(key, __u32);
	__type(value, struct bench_template);
} templates SEC(".maps");

/* Set before load: how many templates (flows) are in use, 1..BENCH_MAX_FLOWS. */
const volatile __u32 nr_flows = 1;

/* Frames generated and frames whose template could not be written (both read by the loader).
 * A test run stays on one CPU, so plain increments are exact. */
__u64 generated = 0;
__u64 failed = 0;

SEC("xdp")
int xdp_bench_gen(struct xdp_md *ctx)
{
	__u32 flows = nr_flows ? nr_flows : 1;
	__u32 key = (__u32)(generated % flows);
	struct bench_template *t;
	__u32 len;

	generated++;
	t = bpf_map_lookup_elem(&templates, &key);
	if (!t)
		goto fail;
	len = t->len;
	if (len < 14 || len > BENCH_MAX_FRAME || len != ctx->data_end - ctx->data)
		goto fail;
	if (bpf_xdp_store_bytes(ctx, 0, t->data, len))
		goto fail;
	return XDP_TX;
fail:
	failed++;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
