"""The tree drawn in ``homelab.errors`` lists every error class of the tool, where it sits.

Every module of ``homelab`` is imported (the simulator's packages excepted: their exceptions
are answers of a fake server, not errors of the tool), then every subclass of LabError is looked
up in the drawn tree: it must be drawn, under a class it derives from, marked (T) exactly when
its ``transient`` attribute is true. Names drawn that no longer exist are reported too.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import homelab
from homelab import errors
from homelab.errors import LabError

SKIPPED = ("homelab.sim", "homelab_sim", "homelab.simulated", "homelab.__main__")
NODE = re.compile(r"(?P<name>[A-Za-z_]\w*)(?P<transient>\s+\(T\))?")


@dataclass(frozen=True)
class Drawn:
    name: str
    parent: str | None
    transient: bool


def drawn_tree(doc: str) -> dict[str, Drawn]:
    """The classes drawn in ``doc``: from the ``LabError`` line to the first blank line."""
    lines = doc.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip().startswith("LabError "))
    indent = len(lines[first]) - len(lines[first].lstrip())
    nodes = {"LabError": Drawn("LabError", None, False)}
    path = ["LabError"]
    for line in lines[first + 1 :]:
        if not line.strip():
            break
        body = line[indent:]
        branch = max(body.find("├── "), body.find("└── "))
        if branch < 0:
            continue  # a description continued on the next line
        depth = branch // 4 + 1
        found = NODE.match(body[branch + 4 :])
        assert found is not None, f"cannot read the tree line {line!r}"
        name = found["name"]
        del path[depth:]
        nodes[name] = Drawn(name, path[-1], found["transient"] is not None)
        path.append(name)
    return nodes


def error_classes() -> dict[str, type[LabError]]:
    """Every public LabError subclass defined in the tool (not in the simulator)."""
    for module in pkgutil.walk_packages(homelab.__path__, "homelab."):
        if not module.name.startswith(SKIPPED):
            importlib.import_module(module.name)
    found: dict[str, type[LabError]] = {"LabError": LabError}
    pending: list[type[LabError]] = [LabError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub.__module__.startswith(SKIPPED) or not sub.__module__.startswith("homelab"):
                continue
            pending.append(sub)
            if not sub.__name__.startswith("_"):
                other = found.setdefault(sub.__name__, sub)
                assert other is sub, (
                    f"two error classes named {sub.__name__}: the tree is ambiguous"
                )
    return found


def test_the_tree_parser_reads_depth_parents_and_marks() -> None:
    doc = """x

    LabError                  root
    ├── A                     a
    │   ├── B            (T)  b
    │   │   └── C             c
    │   │                     continued
    │   └── D                 d
    └── E                     e

    not the tree: ├── F
    """
    assert drawn_tree(doc) == {
        "LabError": Drawn("LabError", None, False),
        "A": Drawn("A", "LabError", False),
        "B": Drawn("B", "A", True),
        "C": Drawn("C", "B", False),
        "D": Drawn("D", "A", False),
        "E": Drawn("E", "LabError", False),
    }


def test_every_error_class_is_drawn_in_the_tree() -> None:
    assert errors.__doc__ is not None
    drawn = drawn_tree(errors.__doc__)
    classes = error_classes()
    missing = sorted(
        f"{name} ({cls.__module__}, base {cls.__bases__[0].__name__})"
        for name, cls in classes.items()
        if name not in drawn
    )
    assert not missing, "add these classes to the tree in homelab/errors.py: " + ", ".join(missing)
    gone = sorted(set(drawn) - set(classes))
    assert not gone, "the tree in homelab/errors.py draws classes that do not exist: " + ", ".join(
        gone
    )


def test_every_drawn_class_sits_under_a_base_and_is_marked_as_it_behaves() -> None:
    assert errors.__doc__ is not None
    classes = error_classes()
    drawn = {name: node for name, node in drawn_tree(errors.__doc__).items() if name in classes}
    misplaced = sorted(
        f"{node.name} under {node.parent}"
        for node in drawn.values()
        if node.parent is not None
        and node.parent in classes
        and not issubclass(classes[node.name], classes[node.parent])
    )
    assert not misplaced, "drawn under a class they do not derive from: " + ", ".join(misplaced)
    mismarked = sorted(
        node.name
        for node in drawn.values()
        if node.transient != (getattr(classes[node.name], "transient", False) is True)
    )
    assert not mismarked, "(T) does not match the class's transient attribute: " + ", ".join(
        mismarked
    )
