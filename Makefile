# Builds every bpf/NAME.c into build/bpf/NAME.o (architecture-neutral BPF objects).
CLANG ?= $(shell command -v clang-19 || command -v clang)
MULTIARCH := $(shell gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
BPF_CFLAGS := -O2 -g -target bpf -Wall -Werror -Wno-unused-function \
	-Ibpf/include -I/usr/include/$(MULTIARCH)

BPF_SOURCES := $(wildcard bpf/*.c)
BPF_OBJECTS := $(patsubst bpf/%.c,build/bpf/%.o,$(BPF_SOURCES))
BPF_HEADERS := $(wildcard bpf/include/xdpkit/*.h)

# Test fixtures: test/fixtures/GROUP/NAME.c → build/fixtures/GROUP/NAME.o
FIXTURE_SOURCES := $(wildcard test/fixtures/*/*.c)
FIXTURE_OBJECTS := $(patsubst test/fixtures/%.c,build/fixtures/%.o,$(FIXTURE_SOURCES))
# Build-time variants of a fixture: the seed drop-UDP program restricted to port 53.
FIXTURE_OBJECTS += build/fixtures/seed/xdp_drop_udp_53.o

.PHONY: all bpf clean
all: bpf
bpf: $(BPF_OBJECTS) $(FIXTURE_OBJECTS)

build/bpf/%.o: bpf/%.c $(BPF_HEADERS) | build/bpf
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/bpf:
	mkdir -p $@

build/fixtures/%.o: test/fixtures/%.c $(BPF_HEADERS)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build/fixtures/seed/xdp_drop_udp_53.o: test/fixtures/seed/xdp_drop_udp.c
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -DMATCH_PORT_53 -c $< -o $@

clean:
	rm -rf build dist
