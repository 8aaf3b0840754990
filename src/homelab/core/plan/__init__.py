"""Planning: desired (spec + rendered seed digests) vs observed (Proxmox) -> ordered actions.

Everything here is pure. How the engine uses it (1 + Proxmox nodes requests for a no-op plan)::

    observed = engine.observe.observe_lab(client, spec)   # replies read by core.pve_reply
    plan = build.plan_lab(spec, seed_digests, observed)
    if plan.needs_configs or build.config_targets(plan, observed):
        # only VMs that may differ, and the templates a create or replace clones from
        configs = {vmid: pve_reply.parse_config(GET config) for node, vmid in
                   build.config_targets(plan, observed)}
        plan = build.plan_lab(spec, seed_digests, observed.with_configs(configs))
    text.format_plan(plan) / json.plan_to_json(plan); plan.detailed_exit_code

Before applying a saved plan, ``freshness.stale_reasons`` compares it with a new observation and
``freshness.saved_plan_problems`` checks it is one the planner could have made from the spec.
``build.plan_lab`` also judges where the VMs go: ``placement`` (no usable template on a node, a
template's own cloud-init drive off ide2) and ``capacity`` (VMs bigger than their node, from the
node and storage entries of the same ``/cluster/resources``). ``teardown.plan_teardown`` and
``adopt.plan_adopt`` make the plans of ``destroy`` and ``adopt`` the same way (same observation,
same config reads, same engine to run them). Whose VM is whose is ``homelab.core.ownership``'s
one rule, for every one of them.
"""
