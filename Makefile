# breakglass: `make run` starts a development broker, `make test` runs every check.
GO ?= go
DATA ?= ./breakglass-data
ADDR ?= 127.0.0.1:8080
# A count, not a duration: a duration -fuzztime races Go's fuzz coordinator
# (golang/go#75804, unfixed in Go 1.26) into a spurious "context deadline
# exceeded" failure on a loaded machine.
FUZZTIME ?= 100000x
# make install: the binary to $(DESTDIR)$(PREFIX)/bin; make install-systemd
# adds the unit (dist/breakglass.service) to $(DESTDIR)$(SYSTEMDDIR).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system

.PHONY: run build test deps vet fuzz bench install install-systemd uninstall

run: build
	./bin/breakglass serve --dev --data $(DATA) --addr $(ADDR)

build:
	$(GO) build -o bin/breakglass ./cmd/breakglass

# Built when missing only, so that `sudo make install` after `make build`
# copies that binary and needs no Go toolchain as root.
bin/breakglass:
	$(GO) build -o bin/breakglass ./cmd/breakglass

install: bin/breakglass
	install -D -m 0755 bin/breakglass $(DESTDIR)$(BINDIR)/breakglass

# The unit's ExecStart names the binary where `make install` put it.
install-systemd: install
	install -d -m 0755 $(DESTDIR)$(SYSTEMDDIR)
	sed 's|/usr/local/bin/breakglass|$(BINDIR)/breakglass|' dist/breakglass.service > $(DESTDIR)$(SYSTEMDDIR)/breakglass.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/breakglass.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/breakglass $(DESTDIR)$(SYSTEMDDIR)/breakglass.service

deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }

# The race run covers every package, so a new one is raced without a list
# to keep: ./... takes about 4 minutes under -race on 2 cores.
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -race -timeout 30m ./...
	$(MAKE) fuzz

fuzz:
	@for t in $$(./scripts/fuzz-targets.sh); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
