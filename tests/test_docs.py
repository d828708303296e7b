"""docs/api.md documents every public function of the pure API, with the
docstring's own example, and its examples run."""

import doctest
import importlib
import inspect
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_PAGE = os.path.join(ROOT, "docs", "api.md")
# The pure API: modules whose every public function is documented in
# docs/api.md with an example that runs as a doctest.
PURE_MODULES = (
    "diwgan.diw", "diwgan.distances", "diwgan.kde", "diwgan.assignment",
    "diwgan.importance", "diwgan.losses", "diwgan.methods.diwgan",
    "diwgan.data.mog", "diwgan.metrics.mog",
)


def _public_functions():
  for module_name in PURE_MODULES:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    for name, value in vars(module).items():
      # Plain and jit-wrapped functions defined here (or, for a package,
      # listed in its __all__); not classes, not other imports.
      own = (name in exported if exported is not None
             else getattr(value, "__module__", None) == module_name)
      if (name.startswith("_") or inspect.isclass(value)
          or not callable(value) or not own):
        continue
      yield module_name, name, value


FUNCTIONS = sorted(_public_functions(), key=lambda item: item[:2])


def _examples(text, name):
  parsed = doctest.DocTestParser().get_examples(text, name)
  return [(e.source.strip(), e.want.strip()) for e in parsed]


def _api_sections():
  with open(API_PAGE) as f:
    text = f.read()
  # "### `fit_kde(points, ...)`" or "### `a(n)`, `b(n)`": one section each.
  parts = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
  sections = {}
  for part in parts:
    heading = part.splitlines()[0]
    for name in re.findall(r"`(\w+)\(", heading):
      sections[name] = part
  return sections


def test_the_pure_api_is_found():
  names = {name for _, name, _ in FUNCTIONS}
  assert {"diw_term", "pairwise_distances", "fit_kde", "kde_log_density",
          "auction", "hungarian", "scipy_assignment", "match",
          "generator_weights", "target_weights",
          "matched_distance_loss", "draw_anchors"} <= names, names


@pytest.mark.parametrize(
    "module_name,name,function", FUNCTIONS,
    ids=[f"{m}.{n}" for m, n, _ in FUNCTIONS])
def test_function_has_a_doctest_and_is_on_the_api_page(
    module_name, name, function):
  tests = doctest.DocTestFinder().find(function, name)
  examples = [e for t in tests for e in t.examples]
  assert examples, f"{module_name}.{name} has no docstring example (>>>)."
  sections = _api_sections()
  assert name in sections, f"{module_name}.{name} is missing in docs/api.md."
  page_examples = _examples(sections[name], name)
  docstring_examples = _examples(inspect.getdoc(function), name)
  # The docstring's example, in order, inside the page's (which adds imports).
  remaining = iter(page_examples)
  missing = [e for e in docstring_examples if e not in remaining]
  assert not missing, (
      f"docs/api.md's example of {name} differs from its docstring's; "
      f"first missing line: {missing[0]}")


def test_api_page_examples_run():
  failures, attempted = doctest.testfile(
      API_PAGE, module_relative=False, report=True,
      optionflags=doctest.NORMALIZE_WHITESPACE)
  assert attempted > 0
  assert failures == 0, "docs/api.md examples failed (see captured stdout)."


def test_results_include_the_committed_comparison_tables():
  """docs/RESULTS.md's comparison tables are the harness's own table.md,
  and each table.md is what the table writer makes of its results.json."""
  import json  # pylint: disable=g-import-not-at-top
  from benchmarks import summary  # pylint: disable=g-import-not-at-top
  from experiments import report  # pylint: disable=g-import-not-at-top
  with open(os.path.join(ROOT, "docs", "RESULTS.md")) as f:
    text = f.read()
  included = [m.group("path") for m in summary.INCLUDE.finditer(text)]
  assert included, "no included tables"
  assert summary.refresh_includes(text, ROOT) == text, (
      "RESULTS.md is stale: run `python -m benchmarks.summary`")
  for path in included:
    folder = os.path.join(ROOT, os.path.dirname(path))
    with open(os.path.join(folder, "results.json")) as f:
      results = json.load(f)
    with open(os.path.join(ROOT, path)) as f:
      assert report.table_markdown(results) == f.read(), path


# --- Every quoted number comes from a committed file --------------------------

PAGES = [page for page in (
    "README.md", "docs/RESULTS.md", "docs/baselines.md", "docs/benchmarks.md",
    "docs/method.md", "docs/scaling.md", "docs/api.md", "docs/index.md")
         if os.path.exists(os.path.join(ROOT, page))]


def _read(page):
  with open(os.path.join(ROOT, page)) as f:
    return f.read()


def test_summary_refreshes_every_page_checked_here():
  from benchmarks import summary  # pylint: disable=g-import-not-at-top
  assert set(PAGES) <= set(summary.PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_generated_and_included_blocks_match_the_committed_data(page):
  """Each `<!-- generated: name -->` block is what benchmarks/summary.py
  writes from the committed JSON, each include the committed file: prose
  that quotes a number and the file it quotes cannot disagree."""
  from benchmarks import summary  # pylint: disable=g-import-not-at-top
  text = _read(page)
  assert summary.refresh_includes(text, ROOT) == text, (
      f"{page}: an included file changed; run `python -m benchmarks.summary`")
  assert summary.refresh_generated(text, ROOT) == text, (
      f"{page}: a generated block is stale; run `python -m benchmarks.summary`")


def test_results_page_starts_with_the_machine_and_table_1():
  text = _read("docs/RESULTS.md")
  headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
  assert headings[:3] == ["Machine", "Table 1: every method at the defaults' "
                          "length", "Reproduction of the baselines' papers"]
  assert "<!-- generated: machine -->" in text
  assert "<!-- include: docs/results/table1_full/table.md -->" in text
  # No lab-log material: issue numbers and sessions stay in docs/history.md.
  for page in PAGES:
    assert not re.search(r"\bissue \d+", _read(page)), page


def test_a_changed_result_makes_its_block_stale(tmp_path):
  """The check above can fail: one HQS changed in a copy of Table 1's
  results.json changes the generated prose of RESULTS.md and README.md."""
  import json  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  from benchmarks import summary  # pylint: disable=g-import-not-at-top
  shutil.copytree(os.path.join(ROOT, "benchmarks", "results"),
                  tmp_path / "benchmarks" / "results")
  shutil.copytree(os.path.join(ROOT, "docs", "results"),
                  tmp_path / "docs" / "results")
  path = tmp_path / summary.TABLE1
  with open(path) as f:
    results = json.load(f)
  run = next(r for r in results["runs"]
             if (r["dataset"], r["method"]) == ("ring", "pacgan"))
  run["hqs"] -= 0.2
  with open(path, "w") as f:
    json.dump(results, f)
  for page in ("docs/RESULTS.md", "README.md"):
    text = _read(page)
    assert summary.refresh_generated(text, ROOT) == text
    assert summary.refresh_generated(text, str(tmp_path)) != text, page
  with pytest.raises(ValueError, match="Unknown generated block"):
    summary.refresh_generated(
        "<!-- generated: nonsense -->\n<!-- end generated -->", ROOT)


def test_table1_per_set_replaces_exactly_the_rerun_cells():
  from benchmarks import summary  # pylint: disable=g-import-not-at-top
  data = summary.Data(ROOT)
  base = data(summary.TABLE1)
  reruns = summary.rerun_runs(data, summary.TABLE1_PER_SET_RERUNS)
  merged = summary.table1_per_set(data)
  rerun_cells = {(r["dataset"], r["method"]) for r in reruns}
  assert rerun_cells and len(merged["runs"]) == len(base["runs"])
  for run in merged["runs"]:
    source = (reruns if (run["dataset"], run["method"]) in rerun_cells
              else base["runs"])
    assert run in source
  assert merged["protocol"]["learning_rates"] == "per_set"
  # The re-runs ran at the per-set picks, the same length as Table 1.
  from experiments import registry  # pylint: disable=g-import-not-at-top
  for run in reruns:
    assert (run["generator_lr"], run["discriminator_lr"]) == (
        registry.tuned_learning_rates(run["dataset"], run["method"],
                                      per_set=True))
    assert run["num_steps"] == next(
        r["num_steps"] for r in base["runs"]
        if (r["dataset"], r["method"]) == (run["dataset"], run["method"]))


@pytest.mark.parametrize("table", ["TABLE1", "EQUAL_TIME"])
def test_every_cell_whose_per_set_pick_moved_is_rerun(table):
  """Table 1 (and the equal-time table) at per-set rates holds a re-run for
  each of its (set, method) cells whose per-set pick differs from the rates
  the cell ran at, and no other: a pick that moves without its cell re-run
  fails here."""
  from benchmarks import summary  # pylint: disable=g-import-not-at-top
  from experiments import registry  # pylint: disable=g-import-not-at-top
  data = summary.Data(ROOT)
  base = summary.cells(data(getattr(summary, table)))
  reruns = summary.rerun_runs(
      data, getattr(summary, f"{table}_PER_SET_RERUNS"))
  moved = set()
  for (dataset, method), runs in base.items():
    pick = registry.PER_SET_LEARNING_RATES.get(dataset, {}).get(method)
    ran_at = {(r["generator_lr"], r["discriminator_lr"]) for r in runs}
    if pick is not None and ran_at != {pick}:
      moved.add((dataset, method))
  assert {(r["dataset"], r["method"]) for r in reruns} == moved
  for run in reruns:
    assert (run["generator_lr"], run["discriminator_lr"]) == (
        registry.PER_SET_LEARNING_RATES[run["dataset"]][run["method"]])


# A measured number in prose: a decimal, a percentage, a ratio ("2.9x") or
# a duration ("35 s", "2 minutes").
MEASURED = re.compile(
    r"\d+\.\d+|\d+(\.\d+)?\s?%|\b\d+(\.\d+)?x\b"
    r"|\b\d+(\.\d+)?\s?(s|ms|min|minutes|seconds|h|hours)\b")


def _prose(text):
  """The page without its generated, included and rendered blocks, code
  blocks and inline code: what was written by hand."""
  text = re.sub(r"<!-- (generated|include): .*?<!-- end (generated|include)"
                r" -->", "", text, flags=re.DOTALL)
  text = re.sub(r"<!-- performance:begin -->.*?<!-- performance:end -->", "",
                text, flags=re.DOTALL)
  text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
  text = re.sub(r"^(    |\t).*$", "", text, flags=re.MULTILINE)
  text = re.sub(r">= \d+%", "", text)  # a threshold, not a measurement
  text = re.sub(r"<https?://[^>]*>", "", text)  # a link's digits
  return re.sub(r"`[^`]*`", "", text)


@pytest.mark.parametrize("page", ["docs/RESULTS.md", "README.md"])
def test_hand_written_prose_quotes_no_measured_number(page):
  found = [m.group(0) for m in MEASURED.finditer(_prose(_read(page)))]
  assert not found, (
      f"{page} quotes measured numbers outside the generated blocks: "
      f"{found[:10]}; generate them (benchmarks/summary.py, BLOCKS) instead")


# The numbers the other pages write by hand: settings, targets, and figures
# that a test recomputes from a committed file. Anything else that looks
# measured must go into a generated block.
HAND_WRITTEN = {
    # Adam beta1 0.5, cosine decay to 0.05x; "0.9% HQS" is a cell of the
    # included docs/results/baselines_ring_4000/tuning.md. Blocks' Adam
    # settings in PacGAN's code: beta1 0.8 and its two readings (0.2 in the
    # old convention, whose default was 0.1).
    "docs/baselines.md": {"0.5", "0.05", "0.9", "0.1", "0.2", "0.8"},
    # Settings (gate 0.01, bandwidths, alpha, Adam, per-set HQ radii) and
    # the 90% that tests/test_slow_ring.py asserts.
    "docs/method.md": {"0.01", "0.5", "0.05", "1.0", "90%"},
    # Benchmark settings and targets; 8.7 MB, 0.009, 0.40 and 0.10 are
    # recomputed from benchmarks/data/ring_costs.npz (test_doc_sources.py).
    "docs/benchmarks.md": {"0.1", "0.2", "2x", "0.02", "0.01", "8.7",
                           "0.009", "0.40", "0.10", "5x", "80%", "3x",
                           "15%"},
    # A JAX collective's rendezvous timeout; the bandwidth default.
    "docs/api.md": {"40 s", "0.01"},
}


@pytest.mark.parametrize("page", sorted(HAND_WRITTEN))
def test_other_pages_write_only_settings_and_tested_figures(page):
  found = {m.group(0) for m in MEASURED.finditer(_prose(_read(page)))}
  extra = found - HAND_WRITTEN[page]
  assert not extra, (
      f"{page} writes numbers by hand that are neither settings nor "
      f"recomputed by a test: {sorted(extra)}; generate them "
      "(benchmarks/summary.py, BLOCKS) or add the test")
