"""GitHub Actions for a lab's repository (``homelab ci github``), rendered as text. Pure.

``render_ci_github`` returns ``{path relative to the repository root: text}``:

``.github/workflows/homelab-<lab>-plan.yml`` (``pull_request`` into the branch)
    ``validate`` the spec, ``rehearse`` it with ``homelab up --sim`` (GitHub-hosted runner, no
    secrets), ``plan`` it on the lab (a self-hosted runner in the lab's network, never for a
    fork's pull request) and keep ``plan.json`` + ``plan.txt`` as the artifact
    ``homelab-plan-<lab>``; the plan text goes to the step summary (cut below GitHub's 1 MiB)
    and, from a job that holds no lab secret, into one pull request comment, found again by a
    hidden marker and updated in place.
``.github/workflows/homelab-<lab>-apply.yml`` (``push`` to the branch: the merge)
    ``find`` the pull request this push merged and the artifact of the newest successful plan
    run of its head commit (failing clearly when there is none), then ``apply`` exactly that
    plan (``homelab apply --plan``, which refuses a stale plan) in a protected environment.
``.github/actionlint.yaml``
    the self-hosted runner label, for actionlint.

Plan and apply jobs of a lab share one concurrency group (never cancelled in progress), so two
applies, or a plan and an apply, never run at once. Every ``uses:`` is pinned to a commit;
secrets reach only the ``env:`` of the step that needs them; ``${{ }}`` never appears in a
script. The first line of every file is its marker (``read_marker``): the spec it was made
for and a digest of the rest, so the writer (``homelab.verbs.ci_github``) can tell its own
untouched files from files it did not write or that were edited since.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from homelab.errors import LabError

__all__ = [
    "ACTIONLINT_CONFIG",
    "ACTIONS",
    "COMMENT_LIMIT",
    "MARKER_PREFIX",
    "SUMMARY_LIMIT",
    "ActionPin",
    "CiSettings",
    "Marker",
    "apply_workflow_path",
    "check_settings",
    "comment_marker",
    "config_labels",
    "plan_artifact",
    "plan_workflow_path",
    "read_marker",
    "render_ci_github",
]

MARKER_PREFIX = "# generated-by: homelab ci github"
ACTIONLINT_CONFIG = ".github/actionlint.yaml"
WORKFLOW_DIR = ".github/workflows"
PYTHON_VERSION = "3.12"
SUMMARY_LIMIT = 1_000_000  # bytes of a step summary; GitHub refuses more than 1 MiB per step
COMMENT_LIMIT = 65_000  # characters of a comment; GitHub refuses more than 65,536


@dataclass(frozen=True)
class ActionPin:
    """An action at the commit of a release tag (``git rev-parse TAG^{commit}``)."""

    repository: str
    commit: str
    tag: str

    def uses(self) -> str:
        return f"{self.repository}@{self.commit} # {self.tag}"


ACTIONS = {
    "checkout": ActionPin("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup-python": ActionPin(
        "actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"
    ),
    "github-script": ActionPin(
        "actions/github-script", "ed597411d8f924073f98dfc5c65a23a2325f34cd", "v8.0.0"
    ),
    "upload-artifact": ActionPin(
        "actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"
    ),
    "download-artifact": ActionPin(
        "actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"
    ),
}

# Labels every self-hosted runner has, and the GitHub-hosted families: not a custom label.
RESERVED_LABELS = frozenset(
    {"self-hosted", "linux", "windows", "macos", "x64", "x86", "arm", "arm64"}
)
_HOSTED_LABEL = re.compile(r"^(ubuntu|windows|macos)-", re.IGNORECASE)
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_PATH_PART = re.compile(r"^[A-Za-z0-9._+@-]+$")
_BRANCH = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_ENVIRONMENT = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_SECRET = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_MARKER = re.compile(
    re.escape(MARKER_PREFIX) + r"(?:; spec: (?P<spec>\S+))?; sha256: (?P<digest>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class CiSettings:
    """What the workflows are made from: the lab, where its spec is, how to reach the lab."""

    lab: str
    spec: str  # the spec's path relative to the repository root, with '/'
    install: str  # what `pip install` gets: a requirement, a URL or a path
    version: str  # the homelab that writes the files
    runner_label: str = "homelab"
    branch: str = "main"
    environment: str = "homelab-apply"
    pbs_token_env: str | None = None  # the PBS token's variable, when the spec adds a PBS


@dataclass(frozen=True)
class Marker:
    """A file's first line: written by ``homelab ci github`` (for ``spec``), and whether the
    rest of the file is still as written (``intact``)."""

    spec: str | None
    intact: bool


def plan_workflow_path(lab: str) -> str:
    return f"{WORKFLOW_DIR}/homelab-{lab}-plan.yml"


def apply_workflow_path(lab: str) -> str:
    return f"{WORKFLOW_DIR}/homelab-{lab}-apply.yml"


def plan_artifact(lab: str) -> str:
    return f"homelab-plan-{lab}"


def comment_marker(settings: CiSettings) -> str:
    return f"<!-- homelab-plan lab={settings.lab} spec={settings.spec} -->"


def check_settings(settings: CiSettings) -> None:
    """LabError naming the first setting GitHub (or the workflows' shell) could not take."""
    parts = settings.spec.split("/")
    if any(p in ("", ".", "..") or not _PATH_PART.match(p) for p in parts):
        raise LabError(
            f"the spec path {settings.spec!r} cannot be named in a workflow",
            hint="use letters, digits and . _ - + @ in its folders and file name",
        )
    label = settings.runner_label
    if not _LABEL.match(label):
        raise LabError(
            f"runner label {label!r} is not a valid label",
            hint="letters, digits, '.', '_' and '-' (e.g. homelab), as given to the runner's "
            "config.sh --labels",
        )
    if label.lower() in RESERVED_LABELS or _HOSTED_LABEL.match(label):
        raise LabError(
            f"runner label {label!r} is not a custom label: every runner of that kind has it",
            hint="give the lab's runner a label of its own (config.sh --labels homelab)",
        )
    if not _BRANCH.match(settings.branch) or ".." in settings.branch:
        raise LabError(f"branch {settings.branch!r} is not a plain branch name (no patterns)")
    if not _ENVIRONMENT.match(settings.environment):
        raise LabError(
            f"environment name {settings.environment!r} is not supported",
            hint="letters, digits, '.', '_' and '-' (e.g. homelab-apply)",
        )
    install = settings.install
    if (
        not install.strip()
        or install != install.strip()
        or install.startswith("-")
        or "${{" in install
        or any(ord(c) < 32 or ord(c) == 127 for c in install)
    ):
        raise LabError(
            f"--install {install!r} is not one pip requirement, URL or path",
            hint="e.g. homelab==0.1.0, or git+https://github.com/OWNER/REPO@COMMIT",
        )
    pbs = settings.pbs_token_env
    if pbs is not None and (not _SECRET.match(pbs) or pbs.startswith("GITHUB_")):
        raise LabError(
            f"backup.storage.pbs.token_env {pbs!r} cannot be a GitHub secret's name",
            hint="secret names cannot start with GITHUB_; choose another token_env",
        )


def render_ci_github(settings: CiSettings, *, known_labels: tuple[str, ...] = ()) -> dict[str, str]:
    """The files, by path relative to the repository root. ``known_labels`` are labels a
    generated ``.github/actionlint.yaml`` already lists (other labs' runners): kept."""
    check_settings(settings)
    labels = sorted({settings.runner_label, *known_labels})
    return {
        plan_workflow_path(settings.lab): _marked(_plan_workflow(settings), settings.spec),
        apply_workflow_path(settings.lab): _marked(_apply_workflow(settings), settings.spec),
        ACTIONLINT_CONFIG: _marked(_actionlint_config(labels), None),
    }


def read_marker(text: str) -> Marker | None:
    """The marker of a file ``homelab ci github`` wrote; None when it did not write it."""
    first, _, rest = text.partition("\n")
    if not first.startswith(MARKER_PREFIX):
        return None
    match = _MARKER.match(first)
    if match is None:
        return Marker(spec=None, intact=False)
    return Marker(spec=match["spec"], intact=_digest(rest) == match["digest"])


def config_labels(text: str) -> tuple[str, ...]:
    """The self-hosted runner labels an actionlint configuration lists (none if unreadable)."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        return ()
    runner = data.get("self-hosted-runner") if isinstance(data, dict) else None
    labels = runner.get("labels") if isinstance(runner, dict) else None
    if not isinstance(labels, list):
        return ()
    return tuple(str(label) for label in labels if isinstance(label, str) and _LABEL.match(label))


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _marked(body: str, spec: str | None) -> str:
    where = f"; spec: {spec}" if spec is not None else ""
    return f"{MARKER_PREFIX}{where}; sha256: {_digest(body)}\n{body}"


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of YAML's)."""
    return json.dumps(value, ensure_ascii=False)


def _fill(template: str, **values: str) -> str:
    """``template`` with every ``<<name>>`` replaced; a name left over is a bug."""
    text = template
    for name, value in values.items():
        text = text.replace(f"<<{name}>>", value)
    if "<<" in text and re.search(r"<<[a-z_]+>>", text):
        raise AssertionError(f"unfilled placeholder in {re.findall(r'<<[a-z_]+>>', text)}")
    return text


def _script(source: str, indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + line if line else "" for line in source.strip("\n").splitlines())


def _common(settings: CiSettings) -> dict[str, str]:
    return {
        "lab": settings.lab,
        "q_lab": _q(settings.lab),
        "spec": settings.spec,
        "q_spec": _q(settings.spec),
        "q_install": _q(settings.install),
        "q_branch": _q(settings.branch),
        "version": settings.version,
        "label": settings.runner_label,
        "q_environment": _q(settings.environment),
        "q_lab_group": _q(f"homelab-lab-{settings.lab}"),
        "q_artifact": _q(plan_artifact(settings.lab)),
        "checkout": ACTIONS["checkout"].uses(),
        "setup_python": ACTIONS["setup-python"].uses(),
        "github_script": ACTIONS["github-script"].uses(),
        "upload_artifact": ACTIONS["upload-artifact"].uses(),
        "download_artifact": ACTIONS["download-artifact"].uses(),
        "q_python": _q(PYTHON_VERSION),
        "plan_file": plan_workflow_path(settings.lab).rsplit("/", 1)[1],
        "apply_file": apply_workflow_path(settings.lab).rsplit("/", 1)[1],
    }


_INSTALL_STEPS = """\
      - name: check out
        uses: <<checkout>>
        with:
          persist-credentials: false
      - name: set up Python
        uses: <<setup_python>>
        with:
          python-version: <<q_python>>
      - name: install homelab
        run: python -m pip install "$HOMELAB_INSTALL"
"""

# The secrets check: an empty HOMELAB_STATE_URL would mean a throwaway SQLite store on an
# ephemeral runner (the lab's PKI made there would be lost), an empty HOMELAB_STATE_KEY a key
# made on the runner and lost with it.
_SECRETS_CHECK = """\
for name in HOMELAB_STATE_URL HOMELAB_STATE_KEY PROXMOX_VE_API_TOKEN; do
  if [ -z "${!name}" ]; then
    echo "::error::the secret $name is not set (Settings > Secrets and variables > Actions)"
    exit 1
  fi
done
"""

_SECRETS_ENV = """\
          HOMELAB_STATE_URL: ${{ secrets.HOMELAB_STATE_URL }}
          HOMELAB_STATE_KEY: ${{ secrets.HOMELAB_STATE_KEY }}
          PROXMOX_VE_API_TOKEN: ${{ secrets.PROXMOX_VE_API_TOKEN }}
          PROXMOX_VE_FINGERPRINT: ${{ secrets.PROXMOX_VE_FINGERPRINT }}
"""

_REPORT_SCRIPT = """
const fs = require('fs');
const path = require('path');
const planned = process.env.HOMELAB_PLAN_OUTCOME === 'success';
const lab = process.env.HOMELAB_LAB;
const spec = process.env.HOMELAB_SPEC;
const marker = process.env.HOMELAB_COMMENT_MARKER;
const artifact = process.env.HOMELAB_ARTIFACT;
const environment = process.env.HOMELAB_ENVIRONMENT;
const repoUrl = `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}`;
const runUrl = `${repoUrl}/actions/runs/${context.runId}`;
const commit = context.payload.pull_request.head.sha.slice(0, 12);
let text = '';
try {
  text = fs.readFileSync(path.join(process.env.RUNNER_TEMP, 'homelab-plan', 'plan.txt'), 'utf8');
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
}
text = text.replace(/\\s+$/, '');
// a fence longer than any run of backticks in the plan, so that nothing in it can close it
const longest = (text.match(/`+/g) || []).reduce((most, run) => Math.max(most, run.length), 2);
const fence = '`'.repeat(longest + 1);
function cut(body, budget, size) {
  if (size(body) <= budget) return [body, 0];
  const lines = body.split('\\n');
  let used = 0;
  let kept = 0;
  while (kept < lines.length && used + size(lines[kept]) + 1 <= budget) {
    used += size(lines[kept]) + 1;
    kept += 1;
  }
  return [lines.slice(0, kept).join('\\n'), lines.length - kept];
}
function render(limit, size) {
  const top = [`### homelab plan of lab \\`${lab}\\` (\\`${spec}\\`)`, ''];
  if (!planned) top.push(`**The plan failed**: see the log of [the plan job](${runUrl}).`, '');
  const bottom = planned
    ? [
      '',
      `Planned on the lab for commit ${commit} by [this run](${runUrl}). ` +
        'Merging this pull request applies exactly this plan once the environment ' +
        `\\`${environment}\\` approves it; apply refuses it if the lab or the spec changed since.`,
    ]
    : [];
  const note = (more) => (planned
    ? `**The plan is cut here: ${more} more line(s).** The whole plan is in the artifact ` +
      `\\`${artifact}\\` of [this run](${runUrl}).`
    : `**The output is cut here: ${more} more line(s).** See [the job log](${runUrl}).`);
  if (text === '') return [...top, ...bottom].join('\\n');
  const longestNote = note(Number.MAX_SAFE_INTEGER);
  const frame = size([...top, fence + 'text', fence, longestNote, ...bottom].join('\\n'));
  const [kept, more] = cut(text, limit - frame - 8, size);
  const lines = [...top, fence + 'text', kept, fence];
  if (more > 0) lines.push(note(more));
  return [...lines, ...bottom].join('\\n');
}
const summary = render(<<summary_limit>>, (part) => Buffer.byteLength(part, 'utf8'));
await core.summary.addRaw(summary, true).write();
const plan = render(<<comment_limit>> - marker.length - 1, (part) => part.length);
const comment = `${marker}\\n${plan}`;
core.setOutput('comment', comment);
"""

_COMMENT_SCRIPT = """
const marker = process.env.HOMELAB_COMMENT_MARKER;
const body = process.env.HOMELAB_COMMENT;
if (!body.startsWith(marker)) {
  core.setFailed('the plan job did not hand over a plan comment');
  return;
}
const issue_number = context.payload.pull_request.number;
const comments = await github.paginate(github.rest.issues.listComments, {
  ...context.repo,
  issue_number,
  per_page: 100,
});
const previous = comments.find(
  (c) => c.user && c.user.login === 'github-actions[bot]' && (c.body || '').startsWith(marker),
);
if (previous === undefined) {
  const { data } = await github.rest.issues.createComment({ ...context.repo, issue_number, body });
  core.info(`posted the plan: ${data.html_url}`);
} else if (previous.body !== body) {
  await github.rest.issues.updateComment({ ...context.repo, comment_id: previous.id, body });
  core.info(`updated the plan: ${previous.html_url}`);
} else {
  core.info(`the plan comment is up to date: ${previous.html_url}`);
}
"""

_FIND_SCRIPT = """
const sha = context.sha;
const branch = process.env.HOMELAB_BRANCH;
const workflow = process.env.HOMELAB_PLAN_WORKFLOW;
const artifact = process.env.HOMELAB_ARTIFACT;
const repository = `${context.repo.owner}/${context.repo.repo}`;
const { data: pulls } = await github.rest.repos.listPullRequestsAssociatedWithCommit({
  ...context.repo,
  commit_sha: sha,
});
const pr = pulls.find(
  (p) => p.merged_at && p.merge_commit_sha === sha && p.base.ref === branch,
);
if (pr === undefined) {
  core.setFailed(
    `no reviewed plan: commit ${sha} is not the merge of a pull request into ${branch}. ` +
      'The lab is changed only by a plan reviewed on a pull request: make the change through one.',
  );
  return;
}
const runs = await github.paginate(github.rest.actions.listWorkflowRuns, {
  ...context.repo,
  workflow_id: workflow,
  event: 'pull_request',
  head_sha: pr.head.sha,
  status: 'success',
  per_page: 100,
});
const started = (run) => Date.parse(run.run_started_at || run.created_at);
const planned = runs
  .filter((run) => run.head_repository && run.head_repository.full_name === repository)
  .sort((a, b) => started(b) - started(a));
if (planned.length === 0) {
  core.setFailed(
    `no reviewed plan for pull request #${pr.number}: no successful run of ${workflow} for its ` +
      `head commit ${pr.head.sha}. Re-run that workflow's failed jobs on the pull request, ` +
      'then re-run this workflow.',
  );
  return;
}
const run = planned[0];
const artifacts = await github.paginate(github.rest.actions.listWorkflowRunArtifacts, {
  ...context.repo,
  run_id: run.id,
  name: artifact,
  per_page: 100,
});
const plan = artifacts
  .filter((a) => !a.expired)
  .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at))[0];
if (plan === undefined) {
  core.setFailed(
    `no reviewed plan for pull request #${pr.number}: the run ${run.html_url} kept no ` +
      `artifact ${artifact} (it expired, or the plan job did not run: a fork's pull request ` +
      'is never planned). Re-run the plan job of that run, then re-run this workflow.',
  );
  return;
}
core.setOutput('pull-request', String(pr.number));
core.setOutput('run-id', String(run.id));
core.setOutput('run-url', run.html_url);
core.setOutput('artifact-id', String(plan.id));
core.info(`the plan reviewed on pull request #${pr.number}: ${run.html_url}`);
await core.summary
  .addRaw(
    `Applying the plan reviewed on pull request #${pr.number} (${pr.html_url}), ` +
      `made by ${run.html_url}.`,
    true,
  )
  .write();
"""

_PLAN_WORKFLOW = """\
# Pull requests into <<branch>> for lab <<lab>>: validate the spec, rehearse it on homelab's
# simulator (GitHub-hosted, no secrets), plan it on the lab (the self-hosted runner labelled
# <<label>>) and post the plan on the pull request. Merging applies exactly that plan
# (<<apply_file>>). Written by homelab <<version>>: do not edit, run again instead:
#   homelab ci github <<spec>>
name: <<q_name>>

on:
  pull_request:
    branches: [<<q_branch>>]

permissions: {}

concurrency:
  group: <<q_pr_group>>
  cancel-in-progress: true

defaults:
  run:
    shell: bash

env:
  HOMELAB_SPEC: <<q_spec>>
  HOMELAB_LAB: <<q_lab>>
  HOMELAB_INSTALL: <<q_install>>
  HOMELAB_COMMENT_MARKER: <<q_marker>>
  PIP_DISABLE_PIP_VERSION_CHECK: "1"

jobs:
  validate:
    name: validate the spec
    runs-on: ubuntu-latest
    permissions:
      contents: read # check out the spec
    timeout-minutes: 10
    steps:
<<install_steps>>
      - name: homelab validate
        run: homelab validate "$HOMELAB_SPEC"

  rehearse:
    name: rehearse on the simulator
    needs: validate
    runs-on: ubuntu-latest
    permissions:
      contents: read # check out the spec
    timeout-minutes: 30
    steps:
<<install_steps>>
      - name: homelab up --sim
        id: up
        run: homelab up "$HOMELAB_SPEC" --sim --yes
      - name: stop the simulator
        if: always() && steps.up.outcome != 'skipped'
        run: homelab sim stop "$HOMELAB_SPEC"

  plan:
    name: plan on the lab
    needs: validate
    # a fork's pull request never runs on the lab's runner, nor sees the lab's secrets
    if: github.event.pull_request.head.repo.full_name == github.repository
    runs-on: [self-hosted, linux, <<label>>]
    permissions:
      contents: read # check out the spec
    concurrency:
      group: <<q_lab_group>>
      cancel-in-progress: false
    timeout-minutes: 30
    outputs:
      comment: ${{ steps.report.outputs.comment }}
    steps:
<<install_steps>>
      - name: homelab plan
        id: plan
        env:
<<secrets_env>>
        run: |
<<secrets_check>>
          dir="$RUNNER_TEMP/homelab-plan"
          mkdir -p "$dir"
          homelab plan "$HOMELAB_SPEC" --out "$dir/plan.json" | tee "$dir/plan.txt"
      - name: report the plan
        id: report
        if: always() && (steps.plan.outcome == 'success' || steps.plan.outcome == 'failure')
        uses: <<github_script>>
        env:
          HOMELAB_PLAN_OUTCOME: ${{ steps.plan.outcome }}
          HOMELAB_ARTIFACT: <<q_artifact>>
          HOMELAB_ENVIRONMENT: <<q_environment>>
        with:
          script: |
<<report_script>>
      - name: keep the plan for the merge
        if: steps.plan.outcome == 'success'
        uses: <<upload_artifact>>
        with:
          name: <<q_artifact>>
          path: |
            ${{ runner.temp }}/homelab-plan/plan.json
            ${{ runner.temp }}/homelab-plan/plan.txt
          if-no-files-found: error
          overwrite: true

  comment:
    name: post the plan on the pull request
    needs: plan
    if: always() && needs.plan.outputs.comment != ''
    runs-on: ubuntu-latest
    permissions:
      pull-requests: write # post the plan, or update its comment
    timeout-minutes: 5
    steps:
      - name: post or update the plan comment
        uses: <<github_script>>
        env:
          HOMELAB_COMMENT: ${{ needs.plan.outputs.comment }}
        with:
          script: |
<<comment_script>>
"""

_APPLY_WORKFLOW = """\
# Pushes to <<branch>> for lab <<lab>> (a merged pull request): apply exactly the plan reviewed
# on the pull request (kept by <<plan_file>>), in the environment <<environment>> and never
# while another plan or apply of the lab runs. Written by homelab <<version>>: do not edit,
# run again instead:
#   homelab ci github <<spec>>
name: <<q_name>>

on:
  push:
    branches: [<<q_branch>>]

permissions: {}

# merges are applied one after the other, in order (a newer one waiting replaces an older one
# that waits: re-run that one from the Actions tab if its plan still applies)
concurrency:
  group: <<q_apply_group>>
  cancel-in-progress: false

defaults:
  run:
    shell: bash

env:
  HOMELAB_SPEC: <<q_spec>>
  HOMELAB_LAB: <<q_lab>>
  HOMELAB_INSTALL: <<q_install>>
  PIP_DISABLE_PIP_VERSION_CHECK: "1"

jobs:
  find:
    name: find the reviewed plan
    runs-on: ubuntu-latest
    permissions:
      actions: read # the plan runs of the pull request, and their artifacts
      contents: read # the commit of this push
      pull-requests: read # the pull request that commit merged
    timeout-minutes: 5
    outputs:
      pull-request: ${{ steps.find.outputs.pull-request }}
      run-id: ${{ steps.find.outputs.run-id }}
      run-url: ${{ steps.find.outputs.run-url }}
      artifact-id: ${{ steps.find.outputs.artifact-id }}
    steps:
      - name: find the plan of the merged pull request
        id: find
        uses: <<github_script>>
        env:
          HOMELAB_BRANCH: <<q_branch>>
          HOMELAB_PLAN_WORKFLOW: <<q_plan_file>>
          HOMELAB_ARTIFACT: <<q_artifact>>
        with:
          script: |
<<find_script>>

  apply:
    name: apply the reviewed plan
    needs: find
    runs-on: [self-hosted, linux, <<label>>]
    environment: <<q_environment>>
    permissions:
      actions: read # download the plan kept by the pull request's run
      contents: read # check out the spec
    concurrency:
      group: <<q_lab_group>>
      cancel-in-progress: false
    timeout-minutes: 120
    steps:
<<install_steps>>
      - name: download the reviewed plan
        uses: <<download_artifact>>
        with:
          artifact-ids: ${{ needs.find.outputs.artifact-id }}
          run-id: ${{ needs.find.outputs.run-id }}
          github-token: ${{ github.token }}
          path: ${{ runner.temp }}/homelab-plan
      - name: homelab apply --plan
        env:
<<secrets_env>><<pbs_env>>          HOMELAB_PULL_REQUEST: ${{ needs.find.outputs.pull-request }}
          HOMELAB_PLAN_RUN: ${{ needs.find.outputs.run-url }}
        run: |
<<secrets_check>>
          pr="#$HOMELAB_PULL_REQUEST"
          echo "Applying the plan reviewed on pull request $pr ($HOMELAB_PLAN_RUN)."
          if homelab apply "$HOMELAB_SPEC" --plan "$RUNNER_TEMP/homelab-plan/plan.json" --yes; then
            echo "Applied the plan of pull request $pr to $HOMELAB_LAB." >>"$GITHUB_STEP_SUMMARY"
          else
            status=$?
            echo "**The apply of pull request $pr failed** (exit $status)." >>"$GITHUB_STEP_SUMMARY"
            exit "$status"
          fi
"""

_ACTIONLINT_CONFIG = """\
# The labels of the self-hosted runners homelab's workflows run on, for actionlint
# (https://github.com/rhysd/actionlint/blob/main/docs/config.md). Written by homelab: do not
# edit, run `homelab ci github SPEC` again instead.
self-hosted-runner:
  labels:
<<labels>>
"""


def _plan_workflow(settings: CiSettings) -> str:
    values = _common(settings)
    return _fill(
        _PLAN_WORKFLOW,
        install_steps=_fill(_INSTALL_STEPS, **values).rstrip("\n"),
        secrets_env=_SECRETS_ENV.rstrip("\n"),
        secrets_check=_script(_SECRETS_CHECK, 10),
        report_script=_script(
            _fill(
                _REPORT_SCRIPT, summary_limit=str(SUMMARY_LIMIT), comment_limit=str(COMMENT_LIMIT)
            ),
            12,
        ),
        comment_script=_script(_COMMENT_SCRIPT, 12),
        q_name=_q(f"homelab {settings.lab}: plan"),
        q_pr_group=_q(f"homelab-{settings.lab}-plan-${{{{ github.event.pull_request.number }}}}"),
        q_marker=_q(comment_marker(settings)),
        branch=settings.branch,
        **values,
    )


def _apply_workflow(settings: CiSettings) -> str:
    values = _common(settings)
    pbs = settings.pbs_token_env
    return _fill(
        _APPLY_WORKFLOW,
        install_steps=_fill(_INSTALL_STEPS, **values).rstrip("\n"),
        secrets_env=_SECRETS_ENV,
        pbs_env=f"          {pbs}: ${{{{ secrets.{pbs} }}}}\n" if pbs else "",
        secrets_check=_script(_SECRETS_CHECK, 10),
        find_script=_script(_FIND_SCRIPT, 12),
        q_name=_q(f"homelab {settings.lab}: apply"),
        q_apply_group=_q(f"homelab-{settings.lab}-apply"),
        q_plan_file=_q(values["plan_file"]),
        branch=settings.branch,
        environment=settings.environment,
        **values,
    )


def _actionlint_config(labels: list[str]) -> str:
    return _fill(_ACTIONLINT_CONFIG, labels="\n".join(f"    - {_q(label)}" for label in labels))
