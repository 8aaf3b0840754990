"""Single-value checks of PVE::JSONSchema that the served endpoints exercise only partly."""

from __future__ import annotations

import re

import pytest

from homelab_sim.pve import schema, schema_check
from homelab_sim.pve.schema_check import Prop, PropertyString


def errors_for(value: object, prop: Prop, path: str = "p") -> dict[str, str]:
    errors: dict[str, str] = {}
    schema_check.check_prop(schema_check.perl_value(value), prop, path, errors)
    return errors


def test_second_error_for_a_path_is_joined_with_a_literal_backslash_n() -> None:
    errors: dict[str, str] = {}
    schema_check.add_error(errors, "vmid", "first")
    schema_check.add_error(errors, "vmid", "second")
    schema_check.add_error(errors, "", "rooted")
    assert errors == {"vmid": "first\\nsecond", "_root": "rooted"}


def test_min_length() -> None:
    prop = Prop(type="string", optional=False, min_length=3)
    assert errors_for("ab", prop) == {"p": "value must be at least 3 characters long"}
    assert errors_for("abc", prop) == {}


def test_fractional_bounds_print_as_perl_does() -> None:
    prop = Prop(type="number", optional=True, minimum=0.5, maximum=2)
    assert errors_for("0.25", prop) == {"p": "value must have a minimum value of 0.5"}
    assert errors_for("2.5", prop) == {"p": "value must have a maximum value of 2"}
    assert errors_for("1e0", prop) == {}


def test_pattern_is_anchored_around_the_whole_expression_like_perl() -> None:
    # m/^$pattern$/ interpolates without a group: `^a|b$` matches "ax" through `^a`.
    prop = Prop(type="string", optional=True, pattern=re.compile("^a|b$"))
    assert errors_for("ax", prop) == {}
    assert errors_for("xa", prop) == {"p": "value does not match the regex pattern"}


def test_array_items_are_checked_with_indexed_paths() -> None:
    prop = Prop(type="array", optional=True, items=Prop(type="integer", optional=False))
    assert errors_for(["1", "x", "3", "y"], prop) == {
        "p[1]": "type check ('integer') failed - got 'x'",
        "p[3]": "type check ('integer') failed - got 'y'",
    }
    assert errors_for("1", prop) == {"p": "type check ('array') failed"}


def test_integer_accepts_a_sign_and_number_accepts_perl_forms() -> None:
    assert errors_for("+5", Prop(type="integer", optional=True)) == {}
    assert errors_for("-5", Prop(type="integer", optional=True)) == {}
    for text in ("1.", ".5", "2e3", "-1.5E-2"):
        assert errors_for(text, Prop(type="number", optional=True)) == {}
    assert errors_for("1,5", Prop(type="number", optional=True)) == {
        "p": "type check ('number') failed - got '1,5'"
    }


def test_json_floats_are_stringified_as_perl_numbers() -> None:
    assert schema_check.perl_value(2.0) == "2"
    assert schema_check.perl_value(0.1) == "0.1"
    assert schema_check.perl_value([1, True, None]) == ["1", True, None]


def test_property_string_requires_between_sub_keys() -> None:
    fmt = PropertyString(
        keys={
            "size": Prop(type="string", optional=True, default_key=True),
            "unit": Prop(type="string", optional=True, requires="size"),
        },
        default_key="size",
    )
    prop = Prop(type="string", optional=True, property_string=fmt)
    assert errors_for("unit=G", prop, "disk") == {
        "disk": "invalid format - format error\n"
        "disk.size: missing property - 'disk.unit' requires this property\n"
    }
    assert errors_for("32,unit=G", prop, "disk") == {}


def test_key_alias_already_defined() -> None:
    found = schema.match("PUT", "/nodes/pve/qemu/100/config")
    assert found is not None
    _, errors = schema.validate(
        found[0],
        {"node": "pve", "vmid": "100", "net0": "virtio=BC:24:11:00:00:01,e1000=BC:24:11:00:00:02"},
    )
    assert errors == {"net0": "invalid format - key alias 'model' is already defined\n"}


def test_a_table_with_an_unknown_format_is_refused_at_load() -> None:
    with pytest.raises(RuntimeError, match="pve-qm-mystery"):
        schema._compile_prop({"type": "string", "format": "pve-qm-mystery"}, {})


# Defaults in apidoc.json that are prose, or contradict their own range (PVE's vcpus: 0, min 1).
NOT_VALUES = {
    "bwlimit",
    "cpuunits",
    "expire",  # API tokens: "same as user"
    "timeout",
    "vcpus",
    "vmgenid",
    # POST /storage: "yes"/"false" for booleans, and prose ("Unlimited for users with ...")
    "create-base-path",
    "create-subdirs",
    "max-protected-backups",
    "mkdir",
    "skip-cert-verification",
}


def test_the_schema_defaults_pass_the_validator() -> None:
    checked = 0
    for endpoint in schema.endpoints():
        for name, raw in endpoint.params.items():
            if "default" not in raw or name in NOT_VALUES:
                continue
            key = name.replace("[n]", "0")
            found = schema.match(endpoint.method, _concrete(endpoint.template))
            assert found is not None
            _, errors = schema.validate(found[0], {**found[1], key: raw["default"]})
            assert key not in errors, (endpoint.template, key, errors[key])
            checked += 1
    assert checked > 100


def _concrete(template: str) -> str:
    values = {"{node}": "pve", "{vmid}": "100", "{storage}": "local", "{id}": "job1"}
    values |= {"{upid}": "UPID:pve:00000001:00000001:00000001:x::root@pam:", "{poolid}": "p"}
    values |= {"{volume}": "local:iso/a.iso"}
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template
