"""The benchmark scripts a user runs by hand still run against the package (a changed signature breaks them
silently otherwise); the quick ones run here end to end."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_power_study_plans_the_protocols_design_and_another(capsys):
    from pe_bert.study.protocol import PROTOCOL

    power_study = _load("power_study")
    assert power_study.main(["--simulations", "300"]) == 0
    default = capsys.readouterr().out
    assert power_study.main(["--simulations", "300", "--seeds", "2", "--sigma", str(2 * PROTOCOL.pilot_seed_std)]) == 0
    weaker = capsys.readouterr().out

    def detectable(text: str) -> dict[str, float]:
        return {m[0]: float(m[1]) for m in re.findall(r"^([ws])\s+\d+\s.*?([\d.]+) pts", text, re.M)}

    def every_budget(text: str) -> dict[str, float]:
        return {
            m[0]: float(m[1])
            for m in re.findall(r"^([ws])\s+per budget [\d.]+; at every one of 2 budgets ([\d.]+)", text, re.M)
        }

    assert set(detectable(default)) == set(every_budget(default)) == {"w", "s"}
    # the protocol's seeds were chosen for this: its smallest meaningful effect is detected with the target power
    assert all(spread <= PROTOCOL.smallest_effect for spread in detectable(default).values())
    assert all(power >= PROTOCOL.power_target - 0.05 for power in every_budget(default).values())  # 300 simulations
    # fewer seeds and twice the noise: larger spreads needed, less power at the same effect
    assert all(detectable(weaker)[f] > detectable(default)[f] for f in "ws")
    assert all(every_budget(weaker)[f] < every_budget(default)[f] for f in "ws")


def test_quickstart_reads_readmes_first_command():
    bench = _load("bench_quickstart")
    readme = (BENCHMARKS.parent / "README.md").read_text()
    command = bench.quickstart_command(BENCHMARKS.parent / "README.md")
    assert command in readme and command.startswith("pip install torch==") and "pe-bert study" in command


def test_quickstart_times_a_fresh_clone_and_compares_its_results(tmp_path):
    """On a tiny repository of the same shape: its README's command runs in a fresh clone and venv, the pip part
    counted as installation, the rest as the run; its results.json is compared with the committed reference apart
    from metadata."""
    import subprocess

    bench = _load("bench_quickstart")
    repo = tmp_path / "repo"
    (repo / "docs" / "reference").mkdir(parents=True)
    (repo / "README.md").write_text("# x\n\n## Quickstart\n\n```bash\npip --version && python make.py\n```\n")
    reference = {"verdict": "supported", "metadata": {"wall_time_s": 1.0}}
    (repo / "docs" / "reference" / "results.json").write_text(json.dumps(reference))
    made = {"metadata": {"wall_time_s": 2.0}, "verdict": "supported"}  # other metadata, other key order
    (repo / "make.py").write_text(
        f"import json, pathlib\npathlib.Path('study').mkdir()\npathlib.Path('study/results.json').write_text("
        f"json.dumps({made!r}))\n"
    )
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    measured = bench.timed_quickstart(tmp_path / "work", pip_cache=True, root=repo)
    assert [p["command"] for p in measured["parts"]] == ["pip --version", "python make.py"]
    assert measured["identical_to_reference"] is True
    assert measured["study_s"] == measured["parts"][1]["seconds"]
    assert measured["install_s"] == round(measured["venv_s"] + measured["parts"][0]["seconds"], 1)
    assert measured["total_s"] >= measured["install_s"] + measured["study_s"] - 0.2
    (repo / "docs" / "reference" / "results.json").write_text(json.dumps({**reference, "verdict": "null"}))
    assert bench.timed_quickstart(tmp_path / "work2", pip_cache=True, root=repo)["identical_to_reference"] is False


def test_quickstart_stops_at_ctrl_c_with_one_line_and_cleans_up(monkeypatch, capsys, tmp_path):
    """Ctrl-C reaches the running part and this script alike: it ends with status 130 and one line, saves nothing
    and removes the clone and the venv."""
    from pe_bert.interrupts import INTERRUPTED_STATUS

    bench = _load("bench_quickstart")
    work = tmp_path / "work"

    def interrupted(where, pip_cache):
        (where / "clone").mkdir()
        (where / "venv").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.tempfile, "mkdtemp", lambda prefix: str(work.mkdir() or work))
    monkeypatch.setattr(bench, "timed_quickstart", interrupted)
    saved = (bench.ROOT / bench.QUICKSTART).read_text()
    assert bench.main(["--save"]) == INTERRUPTED_STATUS
    assert capsys.readouterr().err.strip().startswith("interrupted; nothing saved")
    assert not (work / "clone").exists() and not (work / "venv").exists()
    assert (bench.ROOT / bench.QUICKSTART).read_text() == saved
