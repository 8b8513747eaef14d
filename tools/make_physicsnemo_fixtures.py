"""Writes tests/fixtures/physicsnemo: small PhysicsNeMo FNO checkpoints made by PhysicsNeMo itself.

Run with a Python that has nvidia-physicsnemo (not the project venv: PhysicsNeMo brings its own
torch); `make physicsnemo-fixtures` creates that venv and runs this:

    /tmp/pnemo-venv/bin/python tools/make_physicsnemo_fixtures.py [OUT_DIR]

For each variant: NAME.mdlus (PhysicsNeMo's Module.save), NAME.npz (x: a seeded input, y: the
model's eager float32 output on the CPU), and an entry in manifest.json (the constructor
arguments, the state dict's keys and shapes, the layout, how the file was made, the versions).
Each file is loaded back with PhysicsNeMo's Module.from_checkpoint and must give the same y.
Two legacy tar files: PhysicsNeMo's save(legacy_format=True) (see legacy_save), and the same members with the
class named as Modulus wrote it (modulus.models.fno.fno, metadata "modulus_version"): that one
is rewritten here, not written by PhysicsNeMo, and its manifest entry says so.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import physicsnemo
import torch
from physicsnemo.core.module import Module
from physicsnemo.models.fno import FNO

SMALL = dict(latent_channels=8, num_fno_layers=2, decoder_layer_size=16)
# name: (constructor arguments, input grid)
VARIANTS: dict[str, tuple[dict, tuple[int, ...]]] = {
    # the one wno-edge's model expresses today: GELU everywhere, one decoder layer, equal zero padding
    "fno2d_gelu": (
        dict(in_channels=2, out_channels=1, dimension=2, num_fno_modes=4, padding=3, decoder_activation_fn="gelu"),
        (16, 16),
    ),
    # PhysicsNeMo's defaults for the decoder (SiLU, one layer), reflect padding per axis
    "fno2d_reflect": (
        dict(in_channels=1, out_channels=2, dimension=2, num_fno_modes=[4, 3], padding=[2, 1], padding_type="reflect"),
        (16, 12),
    ),
    "fno2d_circular_nocoord": (
        dict(
            in_channels=3,
            out_channels=1,
            dimension=2,
            num_fno_modes=3,
            padding=4,
            padding_type="circular",
            coord_features=False,
            decoder_layers=2,
            activation_fn="silu",
        ),
        (12, 16),
    ),
    # activations that carry tensors (PReLU's weight, CappedGELU's cap); a decoder activation list
    "fno2d_replicate_prelu": (
        dict(
            in_channels=1,
            out_channels=1,
            dimension=2,
            num_fno_modes=4,
            padding=[1, 3],
            padding_type="replicate",
            activation_fn="prelu",
            decoder_layers=3,
            decoder_activation_fn=["tanh", "relu"],
        ),
        (16, 16),
    ),
    "fno1d_gelu": (
        dict(in_channels=2, out_channels=1, dimension=1, num_fno_modes=5, padding=4, decoder_activation_fn="gelu"),
        (32,),
    ),
    "fno1d_circular_capped": (
        dict(
            in_channels=1,
            out_channels=2,
            dimension=1,
            num_fno_modes=6,
            padding=3,
            padding_type="circular",
            activation_fn="capped_gelu",
            decoder_layers=0,
            decoder_layer_size=8,
        ),
        (24,),
    ),
    "fno3d_gelu": (
        dict(
            in_channels=1, out_channels=1, dimension=3, num_fno_modes=[2, 3, 2], padding=1, decoder_activation_fn="gelu"
        ),
        (8, 8, 8),
    ),
}
LEGACY_FROM = "fno2d_gelu"  # the model the two tar files hold


def build(name: str, args: dict) -> FNO:
    torch.manual_seed(sum(map(ord, name)))
    model = FNO(**{**SMALL, **args}).eval()
    with torch.no_grad():  # biases too: PhysicsNeMo's init leaves some at 0, which would hide a mix-up
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def output(model: Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).numpy()


def reloaded_output(path: Path, x: torch.Tensor) -> np.ndarray:
    return output(Module.from_checkpoint(str(path)).eval(), x)


def legacy_save(model: Module, path: Path) -> None:
    """model.save(path, legacy_format=True). PhysicsNeMo 2.2.2 puts the tar at PATH/model.tar
    (fsspec's put takes a local target for a directory, and fails when PATH does not exist as
    one), so it is saved into a directory of that name and the tar moved to PATH."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / path.name
        target.mkdir()
        model.save(str(target), legacy_format=True)
        shutil.move(target / "model.tar", path)


def modulus_tar(src: Path, dst: Path) -> None:
    """src (a legacy tar) with the class and the version key as Modulus wrote them."""
    with tarfile.open(src, "r:") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    args = json.loads(members["args.json"])
    args["__module__"] = "modulus" + args["__module__"][len("physicsnemo") :]
    meta = json.loads(members["metadata.json"])
    meta = {"modulus_version": meta.pop("physicsnemo_version"), **meta}
    members["args.json"], members["metadata.json"] = json.dumps(args).encode(), json.dumps(meta).encode()
    with tarfile.open(dst, "w") as tar:
        for name in ("args.json", "metadata.json", "model.pt"):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            tar.addfile(info, io.BytesIO(members[name]))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {
        "physicsnemo_version": physicsnemo.__version__,
        "torch_version": torch.__version__,
        "fixtures": {},
    }
    files = {name: (args, grid, name + ".mdlus", "zip", "Module.save") for name, (args, grid) in VARIANTS.items()}
    args, grid = VARIANTS[LEGACY_FROM]
    files["fno2d_legacy_tar"] = (args, grid, "fno2d_legacy_tar.mdlus", "tar", "Module.save(legacy_format=True)")
    files["fno2d_modulus_tar"] = (
        args,
        grid,
        "fno2d_modulus_tar.mdlus",
        "tar",
        "fno2d_legacy_tar's members rewritten here: __module__ modulus.models.fno.fno, metadata "
        "modulus_version (not written by PhysicsNeMo; PhysicsNeMo loads it)",
    )
    for name, (args, grid, filename, layout, made_by) in files.items():
        model = build(LEGACY_FROM if layout == "tar" else name, args)
        path = out / filename
        if name == "fno2d_modulus_tar":
            modulus_tar(out / "fno2d_legacy_tar.mdlus", path)
        elif layout == "tar":
            legacy_save(model, path)
        else:
            model.save(str(path))
        gen = torch.Generator().manual_seed(len(name))
        x = torch.randn(2, args["in_channels"], *grid, generator=gen)
        y = output(model, x)
        again = reloaded_output(path, x)
        assert np.array_equal(y, again), f"{name}: PhysicsNeMo's reload differs"
        np.savez_compressed(out / f"{name}.npz", x=x.numpy(), y=y)
        manifest["fixtures"][name] = {
            "file": filename,
            "layout": layout,
            "made_by": made_by,
            "args": {**SMALL, **args},
            "state_dict": {k: list(v.shape) for k, v in model.state_dict().items()},
            "input_shape": list(x.shape),
        }
        print(f"{filename}: {path.stat().st_size} bytes, y {tuple(y.shape)}")
    entries = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in manifest.pop("fixtures").items())
    head = json.dumps(manifest)[:-1]  # one line per fixture: a readable diff when they change
    (out / "manifest.json").write_text(f'{head}, "fixtures": {{\n{entries}\n}}}}\n')


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else root / "tests" / "fixtures" / "physicsnemo")
