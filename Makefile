# Quick start: `make demo` (install, build the demo scene, train, render a turntable video) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DATA := data/demo
DEMO_OUT  := output/demo

.PHONY: install demo demo-refine test test-fast clean

install: $(STAMP)

# open3d 0.20 needs Debian's libusb-1.0-0 to import; torch is pinned to the CPU build on disk.
# `pip install -e .` also compiles pcpr_ext's native projector (pcpr_ext/csrc) against that torch.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml setup.py $(wildcard pcpr_ext/csrc/*)
	@ldconfig -p | grep -q 'libusb-1.0.so.0' || apt-get install -y -q libusb-1.0-0 \
		|| (apt-get update -q && apt-get install -y -q libusb-1.0-0)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

demo: install
	$(BIN)/python tools/make_demo_scene.py --out $(DEMO_DATA) --seed 0 --overwrite
	$(BIN)/python tools/train.py --overwrite --config configs/demo.yml
	head -n 1 $(DEMO_DATA)/CamPose.inf > $(DEMO_OUT)/start_camera.inf
	$(BIN)/python exparamgen/exgen.py --campose $(DEMO_OUT)/start_camera.inf \
		--intrinsics $(DEMO_DATA)/Intrinsic.inf --pointcloud $(DEMO_DATA)/pointclouds/frame1.txt \
		--frames 72 --elevation 15 --up 0 0 1 --out $(DEMO_OUT)/turntable_cameras
	$(BIN)/python tools/render.py --output-dir $(DEMO_OUT) \
		--cameras $(DEMO_OUT)/turntable_cameras/CamPose.inf \
		--intrinsics $(DEMO_OUT)/turntable_cameras/Intrinsic.inf --out $(DEMO_OUT)/turntable --depth
	@echo "demo video: $(DEMO_OUT)/turntable/video.mp4"

# The temporal refine net on top of the demo (runs `make demo` first when its model is missing):
# trains output/demo/refine/, refines the turntable from its cached frames, prints the flicker.
demo-refine: install
	test -f $(DEMO_OUT)/turntable/depth_0000.npy || $(MAKE) demo
	$(BIN)/python tools/refine.py --train --output-dir $(DEMO_OUT)
	$(BIN)/python tools/refine.py --output-dir $(DEMO_OUT) --cache $(DEMO_OUT)/turntable \
		--out $(DEMO_OUT)/turntable_refined
	@echo "side by side (raw | refined): $(DEMO_OUT)/turntable_refined/side_by_side.mp4"

# pytest's exit code 5 ("no tests collected") must fail, never pass quietly. The viewer's end-to-end
# test drives Debian's headless chromium, installed here when missing. Tests run in TEST_WORKERS
# processes (pytest-xdist) of one thread each: most of the suite's time is spent starting the tools
# in subprocesses, which one thread does not slow, so two workers on two cores take a third less time.
TEST_WORKERS ?= 2
test: install
	@command -v chromium >/dev/null || apt-get install -y -q chromium \
		|| (apt-get update -q && apt-get install -y -q chromium)
	@OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist load tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The inner loop (under a minute): unit tests, without the e2e and slow ones.
test-fast: install
	$(BIN)/python -m pytest -q -m "not e2e and not slow" tests

clean:
	rm -rf $(VENV) build *.egg-info data output
