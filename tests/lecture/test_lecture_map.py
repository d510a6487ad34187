"""scripts/lecture_map.py: the citation parser, the inventory parser, the errors it reports,
and that the committed docs/lectures.md is the map of the current code and inventory."""
import importlib.util
import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("lecture_map", REPO / "scripts" / "lecture_map.py")
lecture_map = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lecture_map)

INVENTORY = textwrap.dedent("""\
    # INVENTORY
    - `000_7ee7a0b9b8a7359e.txt`: an introduction
    - `003_3c47e26e696c7f07.txt`: a long deck

    ## A. Training

    - A1 Neuron: `y = Σ w x`. `000_7ee7a0b9b8a7359e.txt` L124 「神经元」
    - A2 Losses: "L2 loss for regression" (L1 vs L2 unstated)
      - sub-bullet: `003_3c47e26e696c7f07.txt` L1026–1054, and again L2064

    ## B. Layers

    - B7 Local layers: `000_7ee7a0b9b8a7359e.txt` L446–493; `003_3c47e26e696c7f07.txt` L1219

    ## I. Slips

    1. A slip.
    2. Another slip.
    """)


@pytest.mark.parametrize("text,ids", [
    ("(lecture 003, inventory B27)", ["B27"]),
    ("inventory H7, H8 and H19", ["H7", "H8", "H19"]),
    ("(inventory A17/H28)", ["A17", "H28"]),
    ("inventory ⚠ A19: no formula", ["A19"]),
    ("LECTURE_INVENTORY B19-B22, H7", ["B19", "B20", "B21", "B22", "H7"]),
    ("the inventory's C10", ["C10"]),
    ("(⚠ inventory I13) the value count", ["I13"]),
    ("LECTURE_INVENTORY.md section H", []),
    ("precision / recall / F1 of the C3, C4 and C5 maps", []),
    ("an I3D network; inventory lists", []),
    ("Inventory E2. Later B7 is not cited", ["E2"]),
])
def test_citations_follow_the_word_inventory(text, ids):
    assert lecture_map.cited_ids(text) == ids


def test_scan_finds_docstrings_comments_and_test_names_with_their_scope():
    source = textwrap.dedent('''\
        """Module doc (inventory A1)."""
        # inventory A2 at module level


        class Layer:
            """A layer (inventory B7)."""

            def forward(self):
                # the lectures' formula, inventory A1
                return 1


        def test_b7_counts():
            pass


        def helper_b7_like_name():
            text = "inventory A2 in a string is not a citation"
            return text
        ''')
    found = lecture_map.scan_source(source, Path("tests/x.py"), "test")
    got = [(c.item, c.where, c.line) for c in found]
    assert ("A1", "", 1) in got and ("A2", "", 2) in got
    assert ("B7", "Layer", 6) in got and ("A1", "Layer.forward", 9) in got
    assert ("B7", "test_b7_counts", 13) in got
    assert len(got) == 5
    as_code = lecture_map.scan_source(source, Path("ember/x.py"), "code")
    assert all(c.kind == "code" for c in as_code) and len(as_code) == 4   # no test names


def test_inventory_items_locators_and_slips():
    inv = lecture_map.Inventory(INVENTORY)
    assert list(inv.sections) == ["A", "B", "I"] and list(inv.items) == ["A1", "A2", "B7"]
    assert inv.slips == ["I1", "I2"] and inv.ids == {"A1", "A2", "B7", "I1", "I2"}
    assert inv.seeds == {"000": "an introduction", "003": "a long deck"}
    assert inv.locators("A1") == [("000", 124, 124)]
    # "L2 loss" and "L1 vs L2" are norms, not slide lines; the sub-bullet's file applies
    assert inv.locators("A2") == [("003", 1026, 1054), ("003", 2064, 2064)]
    assert inv.locators("B7") == [("000", 446, 493), ("003", 1219, 1219)]


def _repository(tmp_path, files):
    """A repository in a hidden folder (as a CI clone may be): only hidden folders inside
    the repository are skipped."""
    tmp_path = tmp_path / ".clone"
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "inventory.md").write_text(INVENTORY, encoding="utf-8")
    (tmp_path / "titles.txt").write_text("# titles\nA1 A neuron\nB7 Locally connected\n",
                                         encoding="utf-8")
    return tmp_path


def test_map_lists_code_tests_and_not_built_items(tmp_path):
    root = _repository(tmp_path, {
        "ember/local.py": '"""Local layers (inventory B7)."""\n',
        "tests/test_local.py": "def test_b7_weights():\n    pass\n",
        "tests/.scratch/test_hidden.py": "def test_a1_not_scanned():\n    pass\n",
    })
    text, errors = lecture_map.build(root / "inventory.md", root / "titles.txt", root)
    assert errors == []
    row_b7 = next(line for line in text.splitlines() if line.startswith('| <a id="b7">'))
    assert "Locally connected" in row_b7 and "000 L446–493; 003 L1219" in row_b7
    assert "[ember/local.py](../ember/local.py): (module)" in row_b7
    assert "[tests/test_local.py](../tests/test_local.py): `test_b7_weights`" in row_b7
    row_a1 = next(line for line in text.splitlines() if line.startswith('| <a id="a1">'))
    assert "*not built yet*" in row_a1 and "A neuron" in row_a1
    row_a2 = next(line for line in text.splitlines() if line.startswith('| <a id="a2">'))
    assert "| Losses |" in row_a2                       # no title: the inventory's own words
    assert "**1 of 3 items** are implemented or checked" in text
    assert "| L1219 | [B7](#b7) Locally connected | code + tests |" in text


def test_unknown_ids_are_errors(tmp_path):
    root = _repository(tmp_path, {"ember/bad.py": "# see inventory B99 and I7\n"})
    (root / "titles.txt").write_text("Z1 nothing\n", encoding="utf-8")
    _, errors = lecture_map.build(root / "inventory.md", root / "titles.txt", root)
    assert any("ember/bad.py:1: cites 'B99'" in e for e in errors)
    assert any("cites 'I7'" in e for e in errors)
    assert any("titles.txt:1: title for 'Z1'" in e for e in errors)


def test_check_mode_reports_a_stale_map(tmp_path, capsys):
    root = _repository(tmp_path, {"ember/local.py": '"""inventory B7"""\n'})
    stale = tmp_path / "lectures.md"
    stale.write_text("old\n", encoding="utf-8")
    args = ["--inventory", str(root / "inventory.md"), "--titles", str(root / "titles.txt"),
            "--output", str(stale), "--root", str(root)]
    assert lecture_map.main(args + ["--check"]) == 1
    assert "is stale; run `make lecture-map`" in capsys.readouterr().err
    assert lecture_map.main(args) == 0 and lecture_map.main(args + ["--check"]) == 0
    missing = lecture_map.main(["--inventory", str(tmp_path / "nowhere.md"), "--check"])
    assert missing == 2 and "inventory not found" in capsys.readouterr().err


def test_committed_lecture_map_is_current():
    """docs/lectures.md must be regenerated (``make lecture-map``) whenever a citation or the
    inventory changes; CI also runs ``make lecture-map-check``."""
    inventory = Path(os.environ.get("LECTURE_INVENTORY", REPO / lecture_map.DEFAULT_INVENTORY))
    if not inventory.is_file():
        pytest.skip(f"no lecture inventory at {inventory}")
    text, errors = lecture_map.build(inventory, REPO / "docs" / "lecture_titles.txt")
    assert errors == []
    committed = (REPO / "docs" / "lectures.md").read_text(encoding="utf-8")
    assert committed == text + "\n", "docs/lectures.md is stale: run `make lecture-map`"
