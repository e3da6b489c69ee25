"""The committed messages are what the generator makes, and wire stays sans-I/O."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools import gen_messages, schema_jars

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(bool(schema_jars.missing()), reason=(
    f"Kafka {schema_jars.KAFKA_VERSION}'s schema jars are missing: compat_tests/install.sh "
    "(or python -m tools.schema_jars) fetches them"))
def test_regenerating_gives_identical_files(tmp_path: Path) -> None:
    assert gen_messages.main(["--check", "--out", str(tmp_path)]) == 1  # nothing there yet: all stale
    assert gen_messages.main(["--out", str(tmp_path)]) == 0
    assert gen_messages.main(["--check", "--out", str(tmp_path)]) == 0
    assert gen_messages.main(["--check"]) == 0, "kafkapy/wire/messages is stale: run python -m tools.gen_messages"
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*.py")}
    committed = {
        p.relative_to(gen_messages.OUT): p.read_bytes()
        for p in gen_messages.OUT.rglob("*.py")
        if p.read_text().startswith(gen_messages.GENERATED_MARK)
    }
    assert fresh.keys() == committed.keys()
    for rel, text in fresh.items():
        assert committed[rel] == text, f"{rel} is stale: run python -m tools.gen_messages"


def test_wire_imports_no_trio_and_nothing_else_of_kafkapy() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import kafkapy.wire\n"
        "for m in pkgutil.walk_packages(kafkapy.wire.__path__, 'kafkapy.wire.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m == 'trio' or m.startswith('trio.')\n"
        "       or (m.startswith('kafkapy.') and not m.startswith('kafkapy.wire'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_importing_the_registry_imports_no_message_module() -> None:
    code = (
        "import sys, kafkapy.wire.codec\n"
        "loaded = [m for m in sys.modules if m.startswith('kafkapy.wire.messages.') and m != 'kafkapy.wire.messages._apis']\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
