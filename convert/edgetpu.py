"""Edge TPU target: run Coral's edgetpu_compiler (x86 host only) on the int8 encoder and record
which ops it mapped to the TPU. The decoder stays int8 TFLite on the CPU (the design card's split):
a step is ~0.1 ms there, less than one USB round trip to the TPU, and its batch (the beams) is dynamic."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from .conversion_errors import ConvertError

_ROW = re.compile(r"^\s*([A-Z_0-9]+)\s+(\d+)\s+(.+?)\s*$")


def parse_compiler_log(text: str) -> dict:
    """edgetpu_compiler's per-op table -> {op: {count, status}} and the mapped/CPU totals."""
    ops, mapped, cpu = {}, 0, 0
    for line in text.splitlines():
        m = _ROW.match(line)
        if not m or m.group(1) in ("OPERATOR", "OPERATION"):
            continue
        op, count, status = m.group(1), int(m.group(2)), m.group(3)
        ops.setdefault(op, []).append({"count": count, "status": status})
        if status.lower().startswith("mapped to edge tpu"):
            mapped += count
        else:
            cpu += count
    return {"ops": ops, "ops_on_tpu": mapped, "ops_on_cpu": cpu}


def _compile(compiler: str, model: Path, workdir: Path) -> tuple[Path | None, str]:
    try:
        proc = subprocess.run(
            [compiler, "-s", "-o", str(workdir), str(model)], capture_output=True, text=True, timeout=600
        )
    except FileNotFoundError:
        raise ConvertError(
            f"{compiler!r} not found: the Edge TPU compiler is not in Debian; install `edgetpu-compiler` "
            "from the Coral apt repository on an x86-64 Linux host, or pass --edgetpu-compiler PATH"
        ) from None
    out = workdir / (model.stem + "_edgetpu.tflite")
    text = proc.stdout + proc.stderr
    log = workdir / (model.stem + "_edgetpu.log")
    if log.is_file():
        text += "\n" + log.read_text(errors="replace")
    return (out if proc.returncode == 0 and out.is_file() else None), text


def compile_for_edgetpu(bundle: Path, compiler: str = "edgetpu_compiler") -> dict:
    if shutil.which(compiler) is None and not Path(compiler).is_file():
        _compile(compiler, bundle / "encoder.tflite", bundle)  # raises the clear error
    enc, enc_log = _compile(compiler, bundle / "encoder.tflite", bundle)
    if enc is None:
        raise ConvertError(f"edgetpu_compiler failed on encoder.tflite:\n{enc_log.strip()[-800:]}")
    info = {"encoder": enc.name, "encoder_ops": parse_compiler_log(enc_log)}
    for f in bundle.glob("*_edgetpu.log"):
        f.unlink()
    return info
