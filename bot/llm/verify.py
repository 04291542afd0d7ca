"""Load a GGUF and generate a few tokens, in a child process.

ctransformers segfaults on some malformed files; running the check in a child turns that into an
error message instead of killing the caller. Prints one JSON object.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE_PROMPT = "### Instruction:\nSay hello.\n\n### Response:\n"


class ModelVerificationError(RuntimeError):
    pass


def verify_model(path: str | Path, timeout_s: float = 120) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.llm.verify", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        if proc.returncode < 0:
            why = [f"the runtime crashed (signal {-proc.returncode})"]
        raise ModelVerificationError(f"{path} does not load and generate: {why[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _main(path: str) -> None:
    import time

    from bot.llm.base import GenerationParams
    from bot.llm.ctransformers_runtime import CTransformersRuntime

    t0 = time.perf_counter()
    runtime = CTransformersRuntime(path, context_length=512)
    load_s = time.perf_counter() - t0
    text = "".join(runtime.stream(PROBE_PROMPT, GenerationParams(max_new_tokens=8)))
    if not text.strip():
        raise SystemExit("the model generated nothing")
    print(json.dumps({"load_s": round(load_s, 3), "sample": text}))


if __name__ == "__main__":
    _main(sys.argv[1])
