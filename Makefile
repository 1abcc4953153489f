# The two commands: `make run` (fetch model, build, load sample data, serve, show a triage)
# and `make test` (fetch model, run the whole test suite).
.PHONY: run test test-postgres test-helpdesk test-rt test-browser test-datasets model lint sample

model:
	./scripts/fetch-model.sh
	./scripts/fetch-mpnet.sh
	./scripts/fetch-llm.sh

run: model
	./scripts/run.sh

test: model
	cargo test --locked

test-postgres: model
	./scripts/test-postgres.sh

test-helpdesk: model
	./scripts/test-helpdesk.sh

test-rt: model
	./scripts/test-rt.sh

test-browser: model
	./scripts/test-browser.sh

# Tests on the real ticket sets in ../shared/datasets (CI has them; fails without).
test-datasets: model
	SWITCHBOARD_TEST_DATASETS="$${SWITCHBOARD_TEST_DATASETS:-$$(cd .. && pwd)/shared/datasets}" \
	  cargo test --locked --test api datasets -- --ignored

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps

sample:
	python3 scripts/generate-sample.py
