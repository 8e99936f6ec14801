# Entry points for a fresh Debian 12 or 13 machine, as root:
#   make test   set everything up, then run every test
#   make demo   set everything up, then run the main job on the local lab
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)
COLLECTION_LINK := .collections/ansible_collections/midserver/claude_stack
SANITY_ROOT := .build/sanity/ansible_collections/midserver/claude_stack
PIP_GET_CACHE := $(HOME)/.ansible/test/cache

.PHONY: help bootstrap venv collection lint yamllint ansible-lint sanity lab \
        test pytest changelog-lint gofmt go-test demo requirements clean molecule bench

help:
	@echo "make test   install what the tests need, then run every test"
	@echo "make demo   install what the demo needs, then run it on the local lab"
	@echo "make lab    (re)build the offline lab only"
	@echo "make lint   yamllint, ansible-lint (production) and ansible-test sanity"
	@echo "make molecule  converge and verify the agent roles in containers (MOLECULE_SCENARIOS)"

bootstrap:
	@bash hack/bootstrap-host.sh

# The virtualenv is rebuilt only when a requirements file changes.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements/test.txt requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	@$(BIN)/python -m pip install --quiet -r requirements/test.txt -c requirements/constraints.txt
	@touch $@

# Ansible resolves midserver.claude_stack.* through this link to the checkout.
collection: $(COLLECTION_LINK)
$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn ../../.. $@

yamllint: venv
	@yamllint --strict .

ansible-lint: venv collection
	@ansible-lint --profile production --strict

# ansible-test needs the collection under ansible_collections/NS/NAME and,
# offline, a get-pip stand-in for the virtualenvs it makes.
sanity: venv
	@rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	@git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ $(SANITY_ROOT)/
	@# ansible-test lists files with git; a repository of its own keeps it from the outer one.
	@cd $(SANITY_ROOT) && git init -q && git add -A
	@mkdir -p $(PIP_GET_CACHE) && for v in $$($(BIN)/python hack/get_pip_versions.py); do \
	  install -m 0644 hack/get_pip_offline.py $(PIP_GET_CACHE)/get_pip_$$v.py; done
	@cd $(SANITY_ROOT) && ansible-test sanity --python $$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])') --color no

changelog-lint: venv
	@antsibull-changelog lint

# Go code: the example service and the Trivy DB generator (GOPATH mode, offline).
GO_DIRS := examples/claude-terminal-service tools/trivy-db-gen
gofmt:
	@out=$$(gofmt -l $(GO_DIRS)); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

go-test:
	@cd examples/claude-terminal-service && go vet ./... && go test ./...

lint: yamllint changelog-lint gofmt ansible-lint sanity

lab: bootstrap venv collection
	@ansible-playbook -i inventories/local playbooks/lab.yml

# Unit tests of the pure logic first, then the system tests on the real lab, in one
# pytest run so that it ends with one summary line.
pytest: venv collection
	@pytest tests/unit tests/system

# One `molecule test` per scenario, in order, stopping at the first that fails. Each
# scenario's full output goes to .build/molecule/<scenario>.log; shown here are its
# result lines and time, or the end of the log when it fails.
MOLECULE_SCENARIOS ?= docker_engine trivy buildkit_cache provision_agents stack
molecule: venv collection lab
	@mkdir -p .build/molecule
	@for s in $(MOLECULE_SCENARIOS); do \
	  log=.build/molecule/$$s.log; start=$$(date +%s); \
	  echo "molecule test -s $$s (log: $$log)"; \
	  if NO_COLOR=1 molecule test -s $$s >$$log 2>&1; then rc=0; else rc=$$?; fi; \
	  grep -aE 'Executed: |PLAY RECAP|^[a-z0-9-]+ +: ok=|[0-9]+ (passed|failed)' $$log | sed 's/^/  /' || true; \
	  echo "molecule test -s $$s: $$( [ $$rc -eq 0 ] && echo passed || echo FAILED) in $$(( $$(date +%s) - start )) s"; \
	  if [ $$rc -ne 0 ]; then tail -n 60 $$log; exit $$rc; fi; \
	done

test: bootstrap venv collection lint go-test lab molecule pytest

# The whole chain on this machine (site.yml runs the lab play itself), then the service's
# /health from outside Ansible.
demo: bootstrap venv collection
	@ansible-playbook -i inventories/local playbooks/site.yml
	@curl -fsS --max-time 10 -w " (HTTP %{http_code})\n" http://127.0.0.1:3000/health

# Timings of the collection against the raw tools, side by side on the local lab: they
# measure and assert nothing. Results go to bench/results/latest.json; a quick run:
#   make bench BENCH_ARGS="--runs 3 --only P1,P3"
# and BENCH_ARGS="--markdown docs/benchmarks.md" records the table in the docs.
BENCH_ARGS ?=
bench: venv collection lab
	@$(BIN)/python bench/run.py $(BENCH_ARGS)

requirements:
	@rm -rf .build/req-venv && $(PYTHON) -m venv .build/req-venv
	@.build/req-venv/bin/pip install --quiet -r requirements/test.txt
	@{ echo '# Generated by `make requirements` from test.txt: every package, pinned.'; \
	   .build/req-venv/bin/pip freeze --all | grep -vE '^(pip|setuptools|wheel)=='; } > requirements/constraints.txt

clean:
	rm -rf .build .collections tests/output
