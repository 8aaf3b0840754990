"""`homelab diagram`: the lab's topology drawn by Graphviz, checked by reading the SVG it makes.

Every VM (name, role, IP, VMID), network (VLAN, bridge, CIDR, gateway), the router, the
control-plane endpoint, the LoadBalancer pool and the cluster CIDRs must be in the picture, each
VM inside the cluster of the Proxmox node it is on; with observations, each VM filled with the
colour of its state. docs/lab.png is the reference lab as the current code draws it: docs/lab.dot
beside it must be the DOT source the code makes now.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from homelab.core.diagram import (
    ROLE_FILLS,
    ROW,
    STATE_FILLS,
    VmObservation,
    VmState,
    diagram_source,
    element_id,
    group_id,
    vm_state,
)
from homelab.core.spec.models import LabSpec
from homelab.errors import LabError
from homelab.verbs.diagram import (
    DiagramFormat,
    diagram_bytes,
    observe_lab,
    output_format,
    write_diagram,
)
from homelab.verbs.lab import prepare_lab
from homelab.verbs.provision import apply_lab
from homelab.verbs.spec import load_valid_spec
from tests.apply.support import FAST, inprocess, new_sim, root_client, write_spec, yes
from tests.support.cli import run_main
from tests.support.golden import updating
from tests.support.paths import EXAMPLES, REPO
from tests.support.tools import needs, require

SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DOCS = REPO / "docs"
WORKERS = 20
PINNED = ("k8s-worker-7", 250)

needs_dot = needs("dot")
Run = Callable[..., tuple[int, str, str]]


# ---- reading the SVG -------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def holds(self, other: Box) -> bool:
        return (
            self.left <= other.left
            and self.top <= other.top
            and other.right <= self.right
            and other.bottom <= self.bottom
        )

    @property
    def middle(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2


@dataclass(frozen=True)
class Element:
    """A node, cluster or edge of the SVG: its texts, the fill and box of its outline."""

    kind: str
    title: str
    texts: tuple[str, ...]
    fill: str | None
    box: Box | None


class Drawing:
    def __init__(self, svg: bytes) -> None:
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg", root.tag
        graph = root.find(f"{SVG}g")
        assert graph is not None and graph.get("class") == "graph"
        #: the graph's own label (texts right under it, not in a node or cluster)
        self.caption = tuple(_clean(t.text) for t in graph.findall(f"{SVG}text") if _clean(t.text))
        self.elements: dict[str, Element] = {}
        self.edges: list[str] = []
        for g in root.iter(f"{SVG}g"):
            kind = g.get("class")
            if kind not in ("node", "cluster", "edge"):
                continue
            title = g.findtext(f"{SVG}title") or ""
            if kind == "edge":
                self.edges.append(title)
                continue
            outline = next((c for c in g.iter() if c.tag in (f"{SVG}path", f"{SVG}polygon")), None)
            ident = g.get("id") or ""
            self.elements[ident] = Element(
                kind,
                title,
                tuple(_clean(t.text) for t in g.iter(f"{SVG}text") if _clean(t.text)),
                outline.get("fill") if outline is not None else None,
                _box(outline) if outline is not None else None,
            )

    def __getitem__(self, ident: str) -> Element:
        assert ident in self.elements, f"no element {ident} in the drawing: {sorted(self.elements)}"
        return self.elements[ident]

    def texts(self, ident: str) -> tuple[str, ...]:
        return self[ident].texts

    def box(self, ident: str) -> Box:
        box = self[ident].box
        assert box is not None, ident
        return box


def _clean(text: str | None) -> str:
    return " ".join((text or "").replace("\xa0", " ").split())


def _box(shape: ET.Element) -> Box:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", shape.get("d") or "")]
    numbers = numbers or [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", shape.get("points", ""))]
    xs, ys = numbers[0::2], numbers[1::2]
    return Box(min(xs), min(ys), max(xs), max(ys))


def drawing(spec: LabSpec, observed: Mapping[str, VmObservation] | None = None) -> Drawing:
    return Drawing(diagram_bytes(spec, DiagramFormat.SVG, observed))


# ---- the labs --------------------------------------------------------------------------------


def reference() -> LabSpec:
    return load_valid_spec(EXAMPLES / "home-lab.yaml")


def ha() -> LabSpec:
    return load_valid_spec(EXAMPLES / "ha-lab.yaml")


def many_workers(folder: Path, count: int = WORKERS) -> LabSpec:
    """The reference lab with ``count`` workers (one with a pinned VMID)."""
    data = yaml.safe_load((EXAMPLES / "home-lab.yaml").read_text())
    master = data["vms"]["k8s-master-1"]
    data["vms"] = {"k8s-master-1": master}
    for number in range(1, count + 1):
        data["vms"][f"k8s-worker-{number}"] = {
            "role": "worker",
            "network": "apps",
            "ip": f"10.0.20.{100 + number}",
        }
    data["vms"][PINNED[0]]["vmid"] = PINNED[1]
    path = folder / "many.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_valid_spec(path)


def every_state(spec: LabSpec) -> dict[str, VmObservation]:
    """Each spec VM in one of the four states, in turn."""
    words = {
        VmState.RUNNING: ("running", "in sync"),
        VmState.STOPPED: ("stopped", "update"),
        VmState.MISSING: ("absent", "create"),
        VmState.DRIFTED: ("running", "update"),
    }
    seen = {}
    for index, name in enumerate(spec.vms):
        state = list(VmState)[index % len(VmState)]
        power, drift = words[state]
        pinned = spec.vms[name].vmid
        seen[name] = VmObservation(
            state=state,
            vmid=None if state is VmState.MISSING else pinned or 400 + index,
            node=spec.node_of(name),
            power=power,
            drift=drift,
            reason="memory 4096 -> 8192 (restart)" if state is VmState.DRIFTED else "",
        )
    return seen


# ---- what every diagram shows ----------------------------------------------------------------


def assert_shows_the_lab(picture: Drawing, spec: LabSpec) -> None:
    for name, vm in spec.vms.items():
        texts = picture.texts(element_id("vm", name))
        assert name in texts and vm.role in texts, texts
        assert any(text.startswith(str(vm.ip)) for text in texts), (name, texts)
        if vm.vmid is not None:
            assert f"VMID {vm.vmid}" in texts, texts
        host = picture.box(element_id("node", spec.node_of(name)))
        group = picture.box(group_id(spec.node_of(name), vm.network))
        assert host.holds(group) and group.holds(picture.box(element_id("vm", name))), name
        assert picture.box("proxmox").holds(host)
    router = picture.texts("router")
    assert "gateway" in router
    for name, net in spec.networks.items():
        texts = picture.texts(element_id("net", name))
        assert name in texts and str(net.cidr) in texts and f"gateway {net.gateway}" in texts
        assert f"VLAN {net.vlan} on {net.bridge}" in texts, texts
        assert str(net.gateway) in router
        assert any(
            edge.startswith("router:") and edge.endswith(f"->{element_id('net', name)}")
            for edge in picture.edges
        )
    for node in spec.proxmox.nodes:
        for network in {vm.network for name, vm in spec.vms.items() if spec.node_of(name) == node}:
            net = spec.networks[network]
            label = picture.texts(group_id(node, network))
            assert label == (net.bridge, f"VLAN {net.vlan} ({network})"), label
            tail = f"{element_id('net', network)}->"
            heads = {edge.removeprefix(tail) for edge in picture.edges if edge.startswith(tail)}
            here = {element_id("vm", n) for n, vm in spec.vms.items() if spec.node_of(n) == node}
            assert heads & here, f"no edge from network {network} to node {node}'s group"
    endpoint = picture.texts("endpoint")
    assert f"https://{spec.api_endpoint()}:6443" in endpoint, endpoint
    planes = {f"endpoint->{element_id('vm', name)}" for name in spec.control_planes}
    assert {edge for edge in picture.edges if edge.startswith("endpoint->")} == planes
    k8s = spec.kubernetes
    assert k8s.load_balancer is not None
    pool = picture.texts("lb-pool")
    assert f"{k8s.load_balancer.first} - {k8s.load_balancer.last}" in pool, pool
    cidrs = picture.texts("cluster-cidrs")
    assert str(k8s.pod_cidr) in cidrs and str(k8s.service_cidr) in cidrs, cidrs
    title = picture.texts("kubernetes")
    assert f"Kubernetes {k8s.version}" in title


@needs_dot
def test_the_reference_lab_shows_every_part() -> None:
    spec = reference()
    picture = drawing(spec)
    assert_shows_the_lab(picture, spec)
    assert picture.caption == ("lab home-lab", "(as specified)")
    assert "on k8s-master-1" in picture.texts("endpoint")
    assert "API https://10.0.10.2:8006" in picture.texts("proxmox")
    assert "VMIDs 200-299" in " ".join(picture.texts("proxmox"))
    # the Proxmox API sits on mgmt: the one edge that says so
    assert "net-mgmt->vm-k8s-master-1" in picture.edges
    for name, vm in spec.vms.items():
        assert picture[element_id("vm", name)].fill == ROLE_FILLS[vm.role]
        assert not any(text.startswith("VMID") for text in picture.texts(element_id("vm", name)))
    legend = picture.texts("legend")
    assert "VM role" in legend and "control-plane" in legend and "worker" in legend


@needs_dot
def test_the_ha_lab_shows_each_vm_on_its_node_and_the_vip() -> None:
    spec = ha()
    picture = drawing(spec)
    assert_shows_the_lab(picture, spec)
    assert "kube-vip VIP" in picture.texts("endpoint")
    assert "https://10.0.20.9:6443" in picture.texts("endpoint")
    pve, pve2 = picture.box("node-pve"), picture.box("node-pve2")
    for name, vm in spec.vms.items():
        own, other = (pve, pve2) if vm.node == "pve" else (pve2, pve)
        box = picture.box(element_id("vm", name))
        assert own.holds(box) and not other.holds(box), name


@needs_dot
def test_twenty_workers_wrap_into_rows(tmp_path: Path) -> None:
    spec = many_workers(tmp_path)
    picture = drawing(spec)
    assert_shows_the_lab(picture, spec)
    assert f"VMID {PINNED[1]}" in picture.texts(element_id("vm", PINNED[0]))
    rows: dict[float, list[str]] = {}
    for name in spec.workers:
        rows.setdefault(round(picture.box(element_id("vm", name)).middle[1]), []).append(name)
    assert len(rows) == -(-WORKERS // ROW), rows  # 4 rows of 5, not one line of 20
    assert all(len(row) == ROW for row in rows.values()), rows
    by_x = [
        sorted(row, key=lambda n: picture.box(element_id("vm", n)).left)
        for _y, row in sorted(rows.items())
    ]
    assert [name for row in by_x for name in row] == spec.workers, "rows keep the spec's order"
    master = picture.box(element_id("vm", "k8s-master-1")).middle[1]
    assert master < min(rows), "the control plane has a row of its own, above the workers"
    whole = picture.box("proxmox")
    assert whole.right - whole.left < 3 * (whole.bottom - whole.top), "compact, not a long line"


# ---- observed ---------------------------------------------------------------------------------


@needs_dot
@pytest.mark.parametrize("lab", ["reference", "ha", "many"])
def test_each_state_fills_its_vm_with_its_colour(lab: str, tmp_path: Path) -> None:
    spec = {"reference": reference, "ha": ha}.get(lab, lambda: many_workers(tmp_path))()
    seen = every_state(spec)
    picture = drawing(spec, seen)
    assert_shows_the_lab(picture, spec)
    assert len(set(STATE_FILLS.values())) == len(VmState), "one colour per state"
    for name, obs in seen.items():
        element = picture[element_id("vm", name)]
        assert element.fill == STATE_FILLS[obs.state], (name, obs.state, element.fill)
        if obs.vmid is not None:
            assert f"VMID {obs.vmid}" in element.texts
    assert {obs.state for obs in seen.values()} == set(list(VmState)[: len(spec.vms)])
    legend = picture.texts("legend")
    for state in VmState:
        assert str(state) in legend


@needs_dot
def test_the_legend_shows_each_states_colour() -> None:
    spec = reference()
    svg = diagram_bytes(spec, DiagramFormat.SVG, every_state(spec))
    legend = next(g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("id") == "legend")
    fills = [p.get("fill") for p in legend.iter(f"{SVG}polygon")]
    for state in VmState:
        assert STATE_FILLS[state] in fills, (state, fills)
    words = [_clean(t.text) for t in legend.iter(f"{SVG}text")]
    assert words.index("running") < words.index("drifted") < words.index("stopped")


@needs_dot
def test_states_are_spelt_out_and_a_vm_not_in_the_spec_is_drawn() -> None:
    spec = reference()
    seen = every_state(spec)
    seen["k8s-worker-2"] = VmObservation(
        VmState.RUNNING, vmid=201, node="pve", power="running", ips=("10.0.20.99",)
    )
    seen["old-worker"] = VmObservation(
        VmState.DRIFTED,
        vmid=299,
        node="pve",
        power="running",
        drift="destroy",
        reason="not in the spec",
        role="worker",
    )
    picture = drawing(spec, seen)
    assert "missing: not on Proxmox" in picture.texts(element_id("vm", "k8s-master-1"))
    assert "guest has 10.0.20.99" in picture.texts(element_id("vm", "k8s-worker-2"))
    drifted = picture.texts(element_id("vm", "k8s-worker-3"))
    assert "drifted: update" in drifted and "memory 4096 -> 8192 (restart)" in drifted
    assert picture[element_id("vm", "k8s-worker-2")].fill == STATE_FILLS[VmState.RUNNING]
    old = picture[element_id("vm", "old-worker")]
    assert old.fill == STATE_FILLS[VmState.DRIFTED]
    assert "drifted: not in the spec" in old.texts and "VMID 299" in old.texts
    assert picture.box("node-pve").holds(old.box or Box(0, 0, 0, 0))
    assert picture.caption == ("lab home-lab", "(as observed)")


@needs_dot
def test_a_vm_is_drawn_where_it_was_seen() -> None:
    spec = ha()
    assert spec.vms["k8s-worker-1"].node == "pve2"
    seen = {"k8s-worker-1": VmObservation(VmState.RUNNING, vmid=301, node="pve", power="running")}
    picture = drawing(spec, seen)
    worker = picture.box(element_id("vm", "k8s-worker-1"))
    assert picture.box("node-pve").holds(worker) and not picture.box("node-pve2").holds(worker)
    # a VM of the spec nobody saw is missing
    assert picture[element_id("vm", "k8s-worker-2")].fill == STATE_FILLS[VmState.MISSING]


def test_the_state_a_vm_is_drawn_in() -> None:
    assert vm_state("absent", "create") is VmState.MISSING
    assert vm_state("stopped", "update") is VmState.STOPPED  # stopped says more than drifted
    assert vm_state("paused", "in sync") is VmState.STOPPED
    assert vm_state("running", "update") is VmState.DRIFTED
    assert vm_state("running", "replace") is VmState.DRIFTED
    assert vm_state("running", "in sync") is VmState.RUNNING


@needs_dot
def test_observed_on_the_simulator_running_stopped_missing_drifted(tmp_path: Path) -> None:
    path = write_spec(tmp_path)
    sim = new_sim()
    try:
        conn = inprocess(sim)
        ctx = prepare_lab(path)
        try:
            outcome = apply_lab(conn, ctx, confirm=yes, limits=FAST)
            assert outcome.report is not None and outcome.report.ok
            seen = observe_lab(conn, ctx)
            assert {name: obs.state for name, obs in seen.items()} == dict.fromkeys(
                ctx.spec.vms, VmState.RUNNING
            )
            picture = drawing(ctx.spec, seen)
            for name in ctx.spec.vms:
                element = picture[element_id("vm", name)]
                assert element.fill == STATE_FILLS[VmState.RUNNING]
                assert "running" in element.texts
                assert f"VMID {seen[name].vmid}" in element.texts
            stopped = seen["k8s-worker-2"]
            assert stopped.vmid is not None and stopped.node is not None
            client = root_client(sim)
            client.wait_task(client.stop(stopped.node, stopped.vmid))
        finally:
            ctx.close()
        bigger = {
            "vms.k8s-worker-4": {"role": "worker", "network": "apps", "ip": "10.0.20.23"},
            "vms.k8s-worker-3.memory": "8GiB",
        }
        ctx = prepare_lab(write_spec(tmp_path, bigger))
        try:
            seen = observe_lab(conn, ctx)
        finally:
            ctx.close()
        wanted = {
            "k8s-master-1": VmState.RUNNING,
            "k8s-worker-2": VmState.STOPPED,
            "k8s-worker-3": VmState.DRIFTED,
            "k8s-worker-4": VmState.MISSING,
        }
        assert {name: obs.state for name, obs in seen.items()} == wanted
        picture = drawing(ctx.spec, seen)
        for name, state in wanted.items():
            assert picture[element_id("vm", name)].fill == STATE_FILLS[state], name
        reason = seen["k8s-worker-3"].reason
        assert reason.startswith("differs: memory"), reason
        label = picture.texts(element_id("vm", "k8s-worker-3"))
        assert "drifted: update" in label and reason.startswith(label[-2] + " " + label[-1]), label
        assert sim.log.rejections() == []
    finally:
        sim.close()


# ---- rendering and writing -------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC, data[:16]
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_dot
def test_the_reference_lab_as_png_with_cairosvg_and_with_dot() -> None:
    cairosvg = pytest.importorskip("cairosvg")
    spec = reference()
    from_svg = cairosvg.svg2png(bytestring=diagram_bytes(spec, DiagramFormat.SVG))
    width, height = _png_size(from_svg)
    assert 600 <= width <= 3000 and 300 <= height <= 2000, (width, height)
    assert width > height, "the reference lab is wider than tall"
    by_dot = diagram_bytes(spec, DiagramFormat.PNG)
    dot_width, dot_height = _png_size(by_dot)
    assert 600 <= dot_width <= 3000 and 300 <= dot_height <= 2000, (dot_width, dot_height)


def test_dot_source_needs_no_graphviz_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere
    data = diagram_bytes(reference(), DiagramFormat.DOT)
    assert data.decode() == diagram_source(reference())
    assert data.startswith(b"digraph home-lab {") or data.startswith(b'digraph "home-lab" {')
    with pytest.raises(LabError, match="needs Graphviz's `dot` program") as raised:
        diagram_bytes(reference(), DiagramFormat.SVG)
    assert raised.value.hint is not None
    assert (
        "apt install graphviz" in raised.value.hint and "brew install graphviz" in raised.value.hint
    )


@pytest.mark.parametrize(
    ("name", "wanted", "chosen"),
    [
        ("lab.svg", None, DiagramFormat.SVG),
        ("lab.PNG", None, DiagramFormat.PNG),
        ("lab.dot", None, DiagramFormat.DOT),
        ("lab.gv", None, DiagramFormat.DOT),
        ("lab.png", DiagramFormat.PNG, DiagramFormat.PNG),
        ("lab.gv", DiagramFormat.DOT, DiagramFormat.DOT),
    ],
)
def test_the_format_comes_from_the_option_or_the_extension(
    name: str, wanted: DiagramFormat | None, chosen: DiagramFormat
) -> None:
    assert output_format(Path(name), wanted) is chosen


@pytest.mark.parametrize(
    ("name", "wanted", "message"),
    [
        ("lab.svg", DiagramFormat.PNG, "does not end in .png"),
        ("lab.png", DiagramFormat.SVG, "does not end in .svg"),
        ("lab.yaml", DiagramFormat.DOT, "does not end in .dot or .gv"),
        ("lab.yaml", None, "cannot tell the format"),
        ("lab", None, "cannot tell the format"),
    ],
)
def test_a_file_whose_extension_says_another_format_is_refused(
    name: str, wanted: DiagramFormat | None, message: str
) -> None:
    with pytest.raises(LabError, match=re.escape(message)):
        output_format(Path(name), wanted)


def test_writing_replaces_the_file_whole_and_leaves_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "lab.dot"
    out.write_text("old")
    assert write_diagram(reference(), out, DiagramFormat.DOT) == out
    assert out.read_text() == diagram_source(reference())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.dot"]
    with pytest.raises(LabError, match="does not exist"):
        write_diagram(reference(), tmp_path / "nowhere" / "lab.dot", DiagramFormat.DOT)
    (tmp_path / "dir.dot").mkdir()
    with pytest.raises(LabError, match="is a directory"):
        write_diagram(reference(), tmp_path / "dir.dot", DiagramFormat.DOT)


def test_names_with_markup_characters_are_escaped(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "home-lab.yaml").read_text())
    data["networks"]['a<b>&"c:d'] = data["networks"].pop("apps")
    for vm in data["vms"].values():
        vm["network"] = 'a<b>&"c:d'
    path = tmp_path / "odd.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    spec = load_valid_spec(path)
    source = diagram_source(spec)
    assert "a&lt;b&gt;&amp;&quot;c:d" in source
    require("dot")
    picture = drawing(spec)
    assert_shows_the_lab(picture, spec)
    assert 'a<b>&"c:d' in picture.texts(element_id("net", 'a<b>&"c:d'))
    nodes = {ident for ident, element in picture.elements.items() if element.kind == "node"}
    drawn = {element_id("vm", name) for name in spec.vms}
    drawn |= {element_id("net", name) for name in spec.networks}
    drawn |= {"router", "endpoint", "lb-pool", "cluster-cidrs", "legend"}
    assert nodes == drawn, "no stray node (a name read as node:port makes one)"


# ---- the command -----------------------------------------------------------------------------


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    monkeypatch.delenv("HOMELAB_STATE_URL", raising=False)

    def invoke(*args: str) -> tuple[int, str, str]:
        return run_main(monkeypatch, capsys, "diagram", *args)

    yield invoke


def _one_error(code: int, err: str, *needles: str) -> None:
    assert code == 1 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in err, err


@needs_dot
def test_the_command_writes_the_file_and_prints_its_path(run: Run, tmp_path: Path) -> None:
    spec = str(EXAMPLES / "home-lab.yaml")
    svg, png = tmp_path / "lab.svg", tmp_path / "lab.png"
    code, out, err = run(spec, "--out", str(svg))
    assert (code, out.strip()) == (0, str(svg)), err
    assert_shows_the_lab(Drawing(svg.read_bytes()), reference())
    code, out, err = run(spec, "--out", str(png))
    assert (code, out.strip()) == (0, str(png)), err
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_the_command_refuses_before_writing(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = str(EXAMPLES / "home-lab.yaml")
    wrong = tmp_path / "lab.svg"
    _one_error(*run(spec, "--format", "png", "--out", str(wrong))[::2], "does not end in .png")
    _one_error(*run(spec, "--out", str(tmp_path / "lab.yaml"))[::2], "cannot tell the format")
    _one_error(*run(spec, "--out", str(wrong), "--sim")[::2], "--sim only matters with --observed")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    _one_error(*run(str(bad), "--out", str(wrong))[::2], str(bad))
    monkeypatch.setenv("PATH", str(tmp_path))  # Graphviz is not installed
    code, _out, err = run(spec, "--out", str(wrong))
    _one_error(code, err, "needs Graphviz's `dot` program", "apt install graphviz", "brew install")
    assert not wrong.exists() and not bad.with_suffix(".svg").exists()
    code, out, err = run(spec, "--format", "dot", "--out", str(tmp_path / "lab.gv"))
    assert (code, out.strip()) == (0, str(tmp_path / "lab.gv")), err
    assert (tmp_path / "lab.gv").read_text() == diagram_source(reference())


@needs_dot
def test_the_command_observes_the_simulator(run: Run, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    out = tmp_path / "lab.svg"
    code, printed, err = run(str(spec), "--observed", "--sim", "--out", str(out))
    assert (code, printed.strip()) == (0, str(out)), err
    picture = Drawing(out.read_bytes())
    for name in reference().vms:  # a fresh simulated lab: nothing created yet
        assert picture[element_id("vm", name)].fill == STATE_FILLS[VmState.MISSING]
    assert "VM state" in picture.texts("legend")


# ---- docs/lab.png ----------------------------------------------------------------------------


def test_docs_lab_png_is_what_the_code_draws() -> None:
    """docs/lab.dot is the source docs/lab.png was drawn from: it must be what the code makes
    now. Redraw both with HOMELAB_UPDATE_GOLDEN=1, or:
    homelab diagram examples/home-lab.yaml --format dot --out docs/lab.dot
    homelab diagram examples/home-lab.yaml --format png --out docs/lab.png"""
    source = diagram_source(reference())
    if updating():
        DOCS.mkdir(exist_ok=True)
        write_diagram(reference(), DOCS / "lab.dot", DiagramFormat.DOT)
        write_diagram(reference(), DOCS / "lab.png", DiagramFormat.PNG)
    assert (DOCS / "lab.dot").read_text(encoding="utf-8") == source, (
        "docs/lab.dot is stale: redraw docs/lab.dot and docs/lab.png (see this test's docstring)"
    )
    assert (DOCS / "lab.png").read_bytes()[:8] == PNG_MAGIC
