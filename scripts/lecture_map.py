#!/usr/bin/env python3
"""Write docs/lectures.md, the lecture map: every item of the lecture inventory's sections A-H
with the Ember code that implements it and the tests that check it (or "not built yet"),
and an index from each lecture's slide lines to those items.

    python scripts/lecture_map.py            # regenerate docs/lectures.md   (make lecture-map)
    python scripts/lecture_map.py --check    # fail if it is stale           (make lecture-map-check)

Inputs: the inventory (``--inventory``, else $LECTURE_INVENTORY, else
``../shared/LECTURE_INVENTORY.md`` beside the repository), the short titles in
``docs/lecture_titles.txt``, and the inventory ids cited in the Python files of ``ember/``,
``tests/``, ``scripts/``, ``benchmarks/`` and ``examples/`` (this file excepted, since its
documentation shows the convention).

The citation convention (also in docs/lectures.md):

* in a docstring or a ``#`` comment, the word *inventory* followed by one or more ids, e.g.
  "(lecture 003, inventory B27)", "inventory H7, H8 and H19", "inventory A17/H28",
  "LECTURE_INVENTORY B19-B22" (a range); ids are a capital letter and a number as in the
  inventory, and section I's numbered slips are I1, I2, ...;
* a test function named ``test_<id>_...`` (``test_h12_mlp_parameter_counts``).

A citation in ``ember/`` (or a script) is an implementation, one in ``tests/`` a check. A cited
id that the inventory does not have is an error, in both modes. Only the standard library is
used, and no file is imported: the sources are parsed.
"""
import argparse
import ast
import io
import os
import re
import sys
import tokenize
from collections import OrderedDict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_INVENTORY = "../shared/LECTURE_INVENTORY.md"
SCANNED = ("ember", "tests", "scripts", "benchmarks", "examples")
MAP_SECTIONS = "ABCDEFGH"

_SECTION = re.compile(r"^## ([A-J])\. (.+?)\s*$")
_ITEM = re.compile(r"^- ([A-H]\d{1,2}) (.*)$")
_SLIP = re.compile(r"^(\d{1,2})\. ")
_SEED = re.compile(r"`?(\d{3})_[0-9a-f]{16}\.txt`?")
_SEED_LIST = re.compile(r"^- `(\d{3})_[0-9a-f]{16}\.txt`: (.*)$")
_LINES = re.compile(r"\bL(\d+)(?:\s*[–-]\s*(\d+))?")
_KEYWORD = re.compile(r"inventory", re.IGNORECASE)
_GAP = re.compile(r"(?:\s+|[,;/&:()\[\]⚠]|'s\b|\.md\b|\band\b|\bor\b|\bitems?\b|\bids?\b)+")
_ID = re.compile(r"([A-I])(\d{1,2})(?:\s*[–-]\s*\1?(\d{1,2}))?(?!\w)")
_TEST_NAME = re.compile(r"^test_([a-i])(\d{1,2})(?:_|$)")


# ------------------------------------------------------------------------------ inventory
class Inventory:
    """Sections A-H with their items (id -> text and slide locators), section I's slips
    (ids I1, I2, ...) and the seed files' descriptions."""

    def __init__(self, text):
        self.sections = OrderedDict()         # letter -> title
        self.items = OrderedDict()            # id -> full text (first line and sub-bullets)
        self.seeds = OrderedDict()            # "003" -> description
        self.slips = []                       # ids of section I's numbered entries
        section, current = None, None
        for line in text.splitlines():
            seed = _SEED_LIST.match(line)
            if seed and section is None:
                self.seeds[seed.group(1)] = seed.group(2)
                continue
            heading = _SECTION.match(line)
            if heading:
                section, current = heading.group(1), None
                self.sections[section] = heading.group(2)
                continue
            item = _ITEM.match(line)
            if item and section == item.group(1)[0]:
                current = item.group(1)
                self.items[current] = item.group(2)
                continue
            slip = _SLIP.match(line)
            if slip and section == "I":
                self.slips.append(f"I{slip.group(1)}")
                continue
            if current and line.startswith("  ") and line.strip():
                self.items[current] += "\n" + line.strip()      # a sub-bullet of the item
            elif line.startswith(("#", "---")):
                current = None
        if not self.items:
            raise ValueError("no inventory items found (expected lines like '- B7 ...' under "
                             "'## B. ...' headings)")

    @property
    def ids(self):
        return set(self.items) | set(self.slips)

    def locators(self, item_id):
        """[(seed, first line, last line)] in the order the item's text gives them."""
        found, seed = [], None
        text = self.items[item_id]
        tokens = sorted([(m.start(), "seed", m) for m in _SEED.finditer(text)]
                        + [(m.start(), "lines", m) for m in _LINES.finditer(text)],
                        key=lambda t: t[0])
        for _, kind, match in tokens:
            if kind == "seed":
                seed = match.group(1)
            elif seed is not None:
                if len(match.group(1)) == 1 and not match.group(2):
                    continue                  # "L1 loss", "L2 pool": norms, not slide lines
                first = int(match.group(1))
                last = int(match.group(2)) if match.group(2) else first
                if (seed, first, max(first, last)) not in found:
                    found.append((seed, first, max(first, last)))
        return found


def read_titles(path, inventory):
    """id -> short title; an id the inventory lacks is an error."""
    titles, errors = {}, []
    if not path.exists():
        return titles, errors
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        item_id, _, title = line.partition(" ")
        if item_id not in inventory.items:
            errors.append(f"{_rel(path)}:{number}: title for {item_id!r}, which is not an item "
                          f"of inventory sections A-H")
            continue
        titles[item_id] = title.strip()
    return titles, errors


# ------------------------------------------------------------------------------ citations
def cited_ids(text):
    """The ids cited in a docstring or comment: every id listed right after 'inventory'."""
    found = []
    for keyword in _KEYWORD.finditer(text):
        position = keyword.end()
        while True:
            gap = _GAP.match(text, position)
            if gap:
                position = gap.end()
            match = _ID.match(text, position)
            if not match:
                break
            letter, first, last = match.group(1), int(match.group(2)), match.group(3)
            last = int(last) if last else first
            found.extend(f"{letter}{n}" for n in range(first, max(first, last) + 1))
            position = match.end()
    return found


class Citation:
    __slots__ = ("item", "path", "line", "where", "kind")

    def __init__(self, item, path, line, where, kind):
        self.item, self.path, self.line, self.where, self.kind = item, path, line, where, kind


def _scopes(tree):
    """(first line, last line, qualified name) of every class and function, outermost first."""
    scopes = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                scopes.append((first, child.end_lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)
    visit(tree, "")
    return scopes


def _enclosing(scopes, line):
    inside = [s for s in scopes if s[0] <= line <= s[1]]
    return max(inside, key=lambda s: s[0])[2] if inside else ""


def scan_source(source, path, kind):
    """Citations in one Python source: docstrings, comments and test names."""
    tree = ast.parse(source, filename=str(path))
    scopes = _scopes(tree)
    found = []

    def add(ids, line, where):
        for item in ids:
            found.append(Citation(item, path, line, where, kind))

    nodes = [(tree, "")] + [(n, None) for n in ast.walk(tree)
                            if isinstance(n, (ast.ClassDef, ast.FunctionDef,
                                              ast.AsyncFunctionDef))]
    for node, where in nodes:
        doc = ast.get_docstring(node, clean=False)
        if doc:
            line = node.body[0].lineno
            add(cited_ids(doc), line, _enclosing(scopes, line) if where is None else where)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and kind == "test":
            name = _TEST_NAME.match(node.name)
            if name:
                add([name.group(1).upper() + name.group(2)], node.lineno,
                    _enclosing(scopes, node.lineno))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            line = token.start[0]
            add(cited_ids(token.string), line, _enclosing(scopes, line))
    return found


def scan_repository(root, skip=()):
    citations = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            relative = path.relative_to(root)
            if path.resolve() in skip or any(p.startswith(".") for p in relative.parts):
                continue
            kind = "test" if relative.parts[0] == "tests" else "code"
            citations.extend(scan_source(path.read_text(encoding="utf-8"), relative, kind))
    return citations


# ------------------------------------------------------------------------------ rendering
def _rel(path):
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _slides(locators):
    by_seed = OrderedDict()
    for seed, first, last in locators:
        span = f"L{first}" if first == last else f"L{first}–{last}"
        by_seed.setdefault(seed, [])
        if span not in by_seed[seed]:
            by_seed[seed].append(span)
    return "; ".join(f"{seed} {', '.join(spans)}" for seed, spans in by_seed.items())


def _links(citations):
    """``[path](../path): `name`, `name`` per file, in the order of first citation."""
    by_file = OrderedDict()
    for c in sorted(citations, key=lambda c: (str(c.path), c.line)):
        names = by_file.setdefault(c.path.as_posix(), [])
        name = c.where or "(module)"
        if name not in names:
            names.append(name)
    parts = []
    for path, names in by_file.items():
        shown = ", ".join(f"`{n}`" if n != "(module)" else n for n in names)
        parts.append(f"[{path}](../{path}): {shown}")
    return "<br>".join(parts)


def _fallback_title(text):
    first = re.split(r"[:(`「]", text.splitlines()[0], maxsplit=1)[0].strip(" .")
    return first[:80] or text[:80]


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def render(inventory, titles, citations, inventory_label):
    by_item = {}
    for c in citations:
        by_item.setdefault(c.item, []).append(c)
    items = [i for i in inventory.items if i[0] in MAP_SECTIONS]

    def status(item_id):
        kinds = {c.kind for c in by_item.get(item_id, [])}
        if not kinds:
            return "not built yet"
        return " + ".join(k for k in ("code", "test") if k in kinds).replace("test", "tests")

    covered = sum(status(i) != "not built yet" for i in items)
    out = [
        "# The lecture map: from the slides to Ember",
        "",
        "<!-- Generated by scripts/lecture_map.py; do not edit by hand. -->",
        "",
        f"Every item of the lecture inventory (`{inventory_label}`, sections A–H) with, in",
        "Ember's words, what the lectures teach, where the slides teach it, the Ember code that",
        "implements it and the tests that check it. An item nothing cites is marked *not built",
        "yet*. The [index by lecture](#by-lecture) goes the other way: from a slide's line",
        "number to its items.",
        "",
        f"**{covered} of {len(items)} items** are implemented or checked; "
        f"{len(items) - covered} are not built yet.",
        "",
        "Regenerate with `make lecture-map` (or `python scripts/lecture_map.py`; the inventory",
        "path can be given with `--inventory` or `$LECTURE_INVENTORY`). CI runs",
        "`make lecture-map-check`, which fails when this file is stale or when a citation",
        "names an id the inventory does not have.",
        "",
        "**How code and tests cite the lectures.** In a docstring or `#` comment, write the",
        "word *inventory* followed by the ids, e.g. `(lecture 003, inventory B27)`,",
        "`inventory H7, H8 and H19`, `inventory A17/H28` or a range `inventory B19-B22`",
        "(section I's slips are `I1`, `I2`, …); or name a test `test_<id>_...`",
        "(`test_h12_mlp_parameter_counts`). Citations under `ember/` (and `scripts/`,",
        "`benchmarks/`, `examples/`) count as implementations, those under `tests/` as checks.",
        "",
        "Sections: " + " · ".join(f"[{s}. {inventory.sections[s]}](#{_anchor(s, inventory)})"
                                  for s in MAP_SECTIONS if s in inventory.sections)
        + " · [By lecture](#by-lecture)",
        "",
    ]
    for section in MAP_SECTIONS:
        if section not in inventory.sections:
            continue
        members = [i for i in items if i[0] == section]
        done = sum(status(i) != "not built yet" for i in members)
        out += [f"## {section}. {inventory.sections[section]}", "",
                f"{done} of {len(members)} items implemented or checked.", "",
                "| id | what the lectures teach | slides | in Ember | checked by |",
                "|---|---|---|---|---|"]
        for item_id in members:
            cites = by_item.get(item_id, [])
            code = [c for c in cites if c.kind == "code"]
            tests = [c for c in cites if c.kind == "test"]
            title = titles.get(item_id) or _fallback_title(inventory.items[item_id])
            if not cites:
                ember_cell, test_cell = "*not built yet*", ""
            else:
                ember_cell = _links(code) if code else "—"
                test_cell = _links(tests) if tests else "—"
            out.append(f'| <a id="{item_id.lower()}"></a>{item_id} | {_cell(title)} | '
                       f"{_slides(inventory.locators(item_id))} | {ember_cell} | {test_cell} |")
        out.append("")
    out += ["## By lecture", "",
            "Each lecture's slide lines, in order, with the inventory items taught there.", ""]
    for seed, description in inventory.seeds.items():
        rows = []
        for item_id in items:
            spans = [(f, l) for s, f, l in inventory.locators(item_id) if s == seed]
            for first, last in spans:
                rows.append((first, last, item_id))
        rows.sort()
        out += [f"### Lecture {seed}", "", _cell(description), "",
                "| slide lines | item | status |", "|---|---|---|"]
        for first, last, item_id in rows:
            span = f"L{first}" if first == last else f"L{first}–{last}"
            title = titles.get(item_id) or _fallback_title(inventory.items[item_id])
            out.append(f"| {span} | [{item_id}](#{item_id.lower()}) {_cell(title)} | "
                       f"{status(item_id)} |")
        out.append("")
    return "\n".join(out)


def _anchor(section, inventory):
    """GitHub's anchor for '## B. Layers & operations': lower case, punctuation dropped."""
    text = f"{section}. {inventory.sections[section]}".lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


# ------------------------------------------------------------------------------ command line
def build(inventory_path, titles_path, root=REPO):
    """The map's text and the list of errors (unknown ids in citations or titles)."""
    inventory = Inventory(Path(inventory_path).read_text(encoding="utf-8"))
    titles, errors = read_titles(titles_path, inventory)
    citations = scan_repository(root, skip={Path(__file__).resolve()})
    known = inventory.ids
    for c in citations:
        if c.item not in known:
            errors.append(f"{c.path.as_posix()}:{c.line}: cites {c.item!r}, which is not an id "
                          f"of the inventory ({inventory_path})")
    citations = [c for c in citations if c.item in known]
    return render(inventory, titles, citations, DEFAULT_INVENTORY), errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inventory", default=os.environ.get("LECTURE_INVENTORY"),
                        help=f"the lecture inventory (default: $LECTURE_INVENTORY, else "
                             f"{DEFAULT_INVENTORY} relative to the repository root)")
    parser.add_argument("--titles", default=str(REPO / "docs" / "lecture_titles.txt"))
    parser.add_argument("--output", default=str(REPO / "docs" / "lectures.md"))
    parser.add_argument("--root", default=str(REPO),
                        help="the repository whose sources are scanned (default: this one)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the output file differs from a fresh map")
    args = parser.parse_args(argv)
    inventory = Path(args.inventory) if args.inventory else (REPO / DEFAULT_INVENTORY)
    if not inventory.is_file():
        print(f"lecture_map: inventory not found at {inventory} (give --inventory or set "
              f"LECTURE_INVENTORY)", file=sys.stderr)
        return 2
    text, errors = build(inventory, Path(args.titles), Path(args.root))
    for error in errors:
        print(f"lecture_map: {error}", file=sys.stderr)
    output = Path(args.output)
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current != text + "\n":
            print(f"lecture_map: {_rel(output)} is stale; run `make lecture-map` (python "
                  f"scripts/lecture_map.py) and commit it", file=sys.stderr)
            return 1
        return 1 if errors else 0
    if errors:
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n", encoding="utf-8")
    print(f"lecture_map: wrote {_rel(output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
