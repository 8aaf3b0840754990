"""The spec's ``hotplug`` and ``max_cores``: validated at their file and line."""

from __future__ import annotations

import pytest

from homelab.core.spec.checks import dimm_sizes
from tests.spec.helpers import check, example_text, find, line_of, mutate

WORKER = "k8s-worker-2: {role: worker, cores: 2, memory: 4GiB,"


def with_worker(fields: str) -> str:
    return mutate(example_text(), [(WORKER, f"k8s-worker-2: {{role: worker, {fields},")])


def test_hotplug_with_max_cores_is_clean() -> None:
    result = check(with_worker("cores: 2, memory: 6GiB, hotplug: [cpu, memory], max_cores: 8"))
    assert result.findings == [] and result.spec is not None
    vm = result.spec.vms["k8s-worker-2"]
    assert (vm.hotplug, vm.max_cores) == (["cpu", "memory"], 8)


@pytest.mark.parametrize(
    ("fields", "path", "fragment"),
    [
        ("cores: 2, memory: 4GiB, max_cores: 4", "vms.k8s-worker-2.max_cores", "add cpu"),
        (
            "cores: 4, memory: 4GiB, hotplug: [cpu], max_cores: 2",
            "vms.k8s-worker-2.max_cores",
            "max_cores 2 is below cores 4",
        ),
        (
            "cores: 2, memory: 5000, hotplug: [memory]",
            "vms.k8s-worker-2.memory",
            "5000 MiB is not a size memory hotplug reaches",
        ),
        (
            "cores: 2, memory: 4GiB, hotplug: [disk]",
            "vms.k8s-worker-2.hotplug[0]",
            "'cpu' or 'memory'",
        ),
        ("cores: 2, memory: 4GiB, hotplug: [cpu], max_cores: 0", "vms.k8s-worker-2.max_cores", ""),
    ],
)
def test_a_wrong_hotplug_is_an_error_at_its_line(fields: str, path: str, fragment: str) -> None:
    text = with_worker(fields)
    result = check(text)
    finding = find(result, path, fragment)
    assert finding.is_error and result.spec is None
    assert finding.line == line_of(text, "k8s-worker-2:")


def test_the_memory_error_names_the_sizes_either_side() -> None:
    result = check(with_worker("cores: 2, memory: 5000, hotplug: [memory]"))
    assert "use 4608 or 5120" in find(result, "vms.k8s-worker-2.memory", "").message


def test_dimm_sizes_follow_qemu_servers_layout() -> None:
    # 1024 static, 32 DIMMs of 512 MiB (to 17408), then 32 of 1024 MiB
    assert dimm_sizes(1024) == [1024]
    assert dimm_sizes(4096)[-3:] == [3072, 3584, 4096]
    assert dimm_sizes(17408)[-2:] == [16896, 17408]
    assert dimm_sizes(17500)[-2:] == [17408, 18432]
    assert 17920 not in dimm_sizes(20000)
